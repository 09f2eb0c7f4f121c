"""Kytos objects -> JSON-safe data, of any NApp's events, boundedly.

Switch, Interface and Link go through their ``as_dict()`` - without core's speed warnings -
as does any object with an ``as_dict()`` (mef_eline's EVCs, of_core's flows); the Topology
carried by ``topology_loaded`` / ``updated`` (no ``as_dict``) through its ``switches`` and
``links``; pydantic models (maintenance windows) through ``model_dump()``; python-openflow
values (UBInt32, HWAddress... GenericType) as their ``value``; dataclasses as their fields;
other objects (python-openflow structs such as PortStats, core's Connection) as their public
instance attributes (``vars()``, names not starting with "_", methods left out). Exceptions
become "Type: message"; UUIDs, datetimes and enums strings (enums their value); bytes text
(invalid UTF-8 as \\xNN escapes); sets and tuples lists; a dict's keys their text (of two keys
with one text, 1 and "1", the later is kept as "1 <int key>" or "1 <str key>", with a
warning, never overwritten). Anything else - an object with no
public attribute, a class, a function, an object whose as_dict(), model_dump(), __dict__,
__str__ or value raises - degrades to a clear ``<unserializable Type: repr>`` string and a
warning: the caller never sees an exception because of a value. (A container that cannot be
iterated - a Mapping whose items() raises - makes serializing fail: the event is counted as
failed and logged.)

Bounded, whatever the content (each cut is counted in the warnings, and leaves a marker where
it was made):

- MAX_DEPTH (64) levels of nesting; deeper values, and cycles, degrade;
- MAX_VALUES (50,000) values per event - every container counts one, and each of its items
  one: past it, items are left out, and their container ends with the marker key LEFT_OUT_KEY
  (a dict) or a "<N more items left out: ...>" string (a list); a container met once it is
  spent is replaced by "<N items left out>";
- MAX_STRING (65,536) characters per string or key, and MAX_TEXT (1,048,576) characters of
  text (keys and strings) per event: a longer string is cut and ends with "...<N characters
  cut>", and a dict's item whose key comes once MAX_TEXT is spent is left out; bytes
  likewise (their first MAX_STRING bytes), and at most MAX_BINARY (4,096) bytes from the
  first one that is not UTF-8 (escaping them costs a Python call each);
- an int beyond 64 bits is sent as a string ("<int of N bits>" past Python's 4,300 digits);
  repr() of a value without JSON form shows at most MAX_REPR (200) characters and a few items
  of a few levels;
- at most MAX_WARNINGS (50) warnings per event, the others counted in one more;
- a topology's budgets are per switch and per link.

An as_dict()'s dict whose JSON takes at most ROUND_TRIP_BYTES is not walked when an orjson
round trip shows that the walk would keep it as it is (``Serializer._round_trip``): the same
result, checked in C; anything the walk would change, cut or degrade is left to the walk.

So the JSON of an event's content is at most about 6 x MAX_TEXT bytes of text (a control
character is escaped in six) plus 45 bytes per value (numbers, punctuation, the markers of
cuts): about 8 MiB whatever the event, a few kilobytes for most. A content of more than
LARGE_VALUES values or LARGE_TEXT characters is "large": handed on as a dict for the producer
to encode in pieces (envelope.hand_off_form).

Paced (``serialize_content_paced``, what listen_events' worker uses), a container of more than
SPLIT_ITEMS items waits its turn and is serialized SLICE_ITEMS items at a time, and once the
pacer's budget is spent (looked at after each item that is not a plain scalar) the rest of
every container being serialized waits too: the event loop gets a turn whenever the pacer
says, so one event's content holds the loop for the pacer's budget (WORK_SLICE, 2 ms) plus
one item - one call of an object's own as_dict() / model_dump() / repr(), which nothing can
interrupt (one over SLOW_CALL, 250 ms, is said in the event's warnings), and the round trip
of what as_dict() gave (0.75 ms for 64 KiB of JSON, against 2.6 ms of walk). The result is
the one ``serialize_content`` gives, but for which values are left out when an event exceeds
MAX_VALUES or MAX_TEXT (the order they are taken in differs).
"""

import builtins
import dataclasses
import datetime as dt
import enum
import inspect
import math
import reprlib
import types
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from operator import attrgetter
from time import perf_counter
from typing import Any

import orjson

from .pacing import Pacer

MAX_DEPTH = 64  # levels of nesting
MAX_REPR = 200  # characters of repr() shown for a value without JSON form
MAX_VALUES = 50_000  # values per event: containers, and their items
MAX_TEXT = 1_048_576  # characters of text (keys and strings) per event
MAX_STRING = 65_536  # characters of one string (or key); of bytes, the first MAX_STRING bytes
MAX_BINARY = 4_096  # bytes: at most this many from the first that is not UTF-8
# A content that takes more than this many values or characters of text is "large": handed on
# as a dict, for the producer to encode in pieces (envelope.hand_off_form).
LARGE_VALUES = 5_000
LARGE_TEXT = 65_536
MAX_WARNINGS = 50  # warnings kept per event; the others are counted in one more
# Seconds: an object's as_dict() / model_dump() longer than this is said. Wall time (a CPU
# clock costs a system call here, twice per call): a busy host or a full garbage collection
# counts too - 70 and 125 ms in a real kytosd while RabbitMQ started on the same 2 vCPUs -
# so only what no such pause explains.
SLOW_CALL = 0.25
SPLIT_ITEMS = 256  # paced: a larger container is serialized a slice at a time
SLICE_ITEMS = 64  # paced: items of such a container serialized between two looks at the clock
LEFT_OUT_KEY = "<left out>"  # a dict whose items were left out (MAX_VALUES) ends with it
# An as_dict() whose JSON is at most this long is checked by an orjson round trip instead of
# the walk (``Serializer._round_trip``).
ROUND_TRIP_BYTES = MAX_STRING
_ROUND_TRIP_OPTIONS = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
                       | orjson.OPT_PASSTHROUGH_DATACLASS)


@dataclass(frozen=True, slots=True)
class Serialized:
    """A value already made JSON-safe (e.g. a topology serialized in chunks): kept as is."""

    value: Any


def topology_parts(obj: Any) -> tuple[Mapping[Any, Any], Mapping[Any, Any]] | None:
    """The switches and links of a kytos Topology (it has no as_dict()), else None."""
    if hasattr(obj, "as_dict"):
        return None
    switches, links = getattr(obj, "switches", None), getattr(obj, "links", None)
    if isinstance(switches, Mapping) and isinstance(links, Mapping):
        return switches, links
    return None

# orjson (and most JSON readers) take integers in this range only.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _safe_text(describe: Callable[[], Any], fallback: str) -> str:
    """``describe()`` (str(), repr() of a foreign object) or ``fallback`` when it raises or
    gives no str."""
    try:
        text = describe()
    except Exception:
        return fallback
    return text if isinstance(text, str) else fallback


class _BoundedRepr(reprlib.Repr):
    """repr() of a value without JSON form, bounded: a few items of a few levels of the
    builtin containers (builtin repr() would show all of a large one), recursion shown as
    builtin repr() shows it, "?" for an object whose repr() raises."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 8
        self.maxdeque = self.maxarray = 8
        self.maxstring = self.maxlong = self.maxother = MAX_REPR
        self._active: set[int] = set()

    def repr1(self, x: Any, level: int) -> str:
        if type(x) in (dict, list, tuple, set, frozenset):
            if id(x) in self._active:
                return {dict: "{...}", list: "[...]"}.get(type(x), "(...)")
            self._active.add(id(x))
            try:
                return super().repr1(x, level)
            finally:
                self._active.discard(id(x))
        return super().repr1(x, level)

    def repr_instance(self, x: Any, level: int) -> str:
        text = _safe_text(lambda: builtins.repr(x), "?")
        return text if len(text) <= self.maxother else text[:self.maxother] + "..."


def _error(exc: BaseException) -> str:
    """'Type: message' of an exception raised by a foreign object, whatever its str() does."""
    return f"{type(exc).__name__}: {_safe_text(lambda: str(exc), '?')}"


_PYOF_VALUE, _PYDANTIC, _DATACLASS = "pyof value", "pydantic", "dataclass"


def _object_kind_uncached(cls: type) -> str | None:
    names = {f"{getattr(klass, '__module__', '')}.{getattr(klass, '__qualname__', '')}"
             for klass in cls.__mro__}
    if "pyof.foundation.base.GenericType" in names:  # python-openflow: UBInt8, HWAddress...
        return _PYOF_VALUE
    if "pydantic.main.BaseModel" in names:
        return _PYDANTIC
    if dataclasses.is_dataclass(cls):
        return _DATACLASS
    return None


_object_kind_cached = lru_cache(maxsize=256)(_object_kind_uncached)


def _object_kind(cls: type) -> str | None:
    """How an object of ``cls`` without as_dict() is serialized (by class name: this module
    imports neither python-openflow nor pydantic models)."""
    try:
        return _object_kind_cached(cls)
    except TypeError:  # a class that cannot be hashed
        return _object_kind_uncached(cls)


@dataclass(slots=True)
class _Waiting:
    """Paced: a container whose items are serialized later, into ``result``."""

    source: Any  # the container itself, kept alive: its id is in ``path``
    items: list[Any]  # (key, value) pairs of a mapping, or the values of a sequence or set
    keyed: bool  # items are the keys of ``source``, a dict (a copy of its keys is cheaper)
    result: dict[str, Any] | list[Any]
    depth: int  # the container's: its items are at depth + 1
    path: frozenset[int]  # ids of the containers it is in, and its own (cycles)
    left_out: int  # items not taken (MAX_VALUES)
    done: int = 0  # items serialized so far


class Serializer:
    """Serializes one value; collects a warning for everything it could not keep as it was.

    ``paced``: containers of more than SPLIT_ITEMS items, and the rest of a container once
    ``deadline`` (a ``perf_counter()`` time) has passed (looked at after every item that is
    not a plain scalar), are filled later, by ``work()``; see ``serialize_content_paced``."""

    def __init__(self, *, paced: bool = False) -> None:
        self.warnings: list[str] = []
        self._path_ids: set[int] = set()
        self._values_left = MAX_VALUES
        self._text_left = MAX_TEXT
        self._left_out = 0  # items left out (MAX_VALUES, MAX_TEXT)
        self._cut_strings = 0  # strings cut (MAX_STRING, MAX_TEXT)
        self._cut_chars = 0
        self._more_warnings = 0  # warnings past MAX_WARNINGS
        self._waiting: list[_Waiting] | None = [] if paced else None
        self.deadline = math.inf
        self._converted: set[int] = set()  # ids of result dicts with a key made text

    # -- entry points ----------------------------------------------------------------------

    def content(self, content: Any) -> dict[str, Any]:
        """An event's content as a dict (anything else is wrapped as {"value": ...})."""
        if not isinstance(content, Mapping):
            self.warnings.append(f"content is a {type(content).__name__}, not a dict")
            return {"value": self.value(content)}
        return self.value(content)

    def new_piece(self) -> None:
        """The budgets (MAX_VALUES, MAX_TEXT) start again: a topology's, per switch and link."""
        self._values_left = MAX_VALUES
        self._text_left = MAX_TEXT

    @property
    def large(self) -> bool:
        """More than LARGE_VALUES values or LARGE_TEXT characters of text were taken (since
        the last ``new_piece()``)."""
        return MAX_VALUES - self._values_left > LARGE_VALUES \
            or MAX_TEXT - self._text_left > LARGE_TEXT

    @property
    def pending(self) -> bool:
        """Paced: containers wait to be filled by ``work()``."""
        return bool(self._waiting)

    def finish(self) -> list[str]:
        """The warnings, with one for each kind of cut made."""
        if self._left_out:
            self.warnings.append(f"content over its bounds ({MAX_VALUES} values, {MAX_TEXT} "
                                 f"characters of text): {self._left_out} items left out")
        if self._cut_strings:
            self.warnings.append(
                f"{self._cut_strings} strings cut, {self._cut_chars} characters (or bytes) "
                f"left out (at most {MAX_STRING} characters a string, {MAX_TEXT} an event)")
        if self._more_warnings:
            self.warnings.append(f"{self._more_warnings} more values degraded")
            self._more_warnings = 0
        self._left_out = self._cut_strings = self._cut_chars = 0
        return self.warnings

    def work(self) -> None:
        """Paced: fill the containers that wait, SLICE_ITEMS items at a time, until
        ``deadline`` has passed or none waits."""
        waiting = self._waiting
        assert waiting is not None
        try:
            while waiting:
                job = waiting[-1]  # the latest first: the containers it meets wait above it
                if job.done >= len(job.items):
                    waiting.pop()
                    if job.left_out:
                        self._leave_out(job.result, job.left_out)
                    continue
                self._path_ids = set(job.path)
                chunk = job.items[job.done:job.done + SLICE_ITEMS]
                job.done += len(chunk)
                if job.keyed:  # a key removed meanwhile is left out
                    source = job.source
                    chunk = [(key, source[key]) for key in chunk if key in source]
                if type(job.result) is dict:
                    self._fill_dict(chunk, job.result, job.depth, job.source)
                else:
                    self._fill_list(chunk, job.result, job.depth, job.source)
                if perf_counter() > self.deadline:
                    return
        finally:
            self._path_ids = set()

    # -- values ----------------------------------------------------------------------------

    def value(self, obj: Any, depth: int = 0) -> Any:
        kind = type(obj)
        if kind is str:
            if (size := len(obj)) <= self._text_left and size <= MAX_STRING and obj.isascii():
                self._text_left -= size
                return obj
            return self._string(obj)
        if kind is int:
            return obj if _INT_MIN <= obj <= _INT_MAX else self._big_int(obj)
        if kind is bool or obj is None:
            return obj
        if kind is float:
            return obj if math.isfinite(obj) else \
                self._degrade(obj, "not a finite number", text=str(obj))
        if depth >= MAX_DEPTH:
            return self._degrade(obj, f"nested deeper than {MAX_DEPTH} levels")
        if kind is dict or kind is list:
            return self._plain_container(obj, depth)
        if kind is Serialized:
            return obj.value
        if isinstance(obj, enum.Enum):  # before str and int: a (str, Enum)'s str() is its name
            try:
                member = obj.value
            except Exception as exc:
                return self._degrade(obj, f"value raised {_error(exc)}")
            return self.value(member, depth + 1)
        if isinstance(obj, str):  # str subclasses (Link.id, Interface.id): common, so early
            return self.value(_subclass_text(obj), depth)
        if isinstance(obj, float):  # float subclasses: the float itself (orjson takes no
            number = float.__float__(obj)  # subclass), whatever their __float__ says
            if math.isfinite(number):
                return number
            return self._degrade(obj, "not a finite number", text=str(number))
        if isinstance(obj, int):  # int subclasses: the int itself
            return self.value(int.__index__(obj), depth)
        if isinstance(obj, dt.date | dt.time):
            try:
                if isinstance(obj, dt.datetime) and obj.tzinfo is not None:
                    obj = obj.astimezone(dt.UTC)
                return obj.isoformat()
            except Exception as exc:  # a tzinfo that raises
                return self._degrade(obj, f"isoformat() raised {_error(exc)}")
        if isinstance(obj, uuid.UUID):
            return str(obj)
        if isinstance(obj, BaseException):
            try:
                message = str(obj)
            except Exception as exc:
                return self._degrade(obj, f"str() raised {_error(exc)}")
            return self._string(f"{type(obj).__name__}: {message}")
        if isinstance(obj, bytes | bytearray | memoryview):
            return self._bytes(obj)
        if id(obj) in self._path_ids:
            return self._degrade(obj, "refers to itself (cycle)")
        self._path_ids.add(id(obj))
        try:
            return self._container(obj, depth)
        finally:
            self._path_ids.discard(id(obj))

    def _plain_container(self, obj: dict | list, depth: int) -> Any:
        """The hot path (as_dict() output is dicts and lists of scalars): scalar leaves are
        kept inline instead of costing a call each."""
        path, obj_id = self._path_ids, id(obj)
        if obj_id in path:
            return self._degrade(obj, "refers to itself (cycle)")
        path.add(obj_id)
        try:
            size = len(obj)
            if size >= self._values_left or (self._waiting is not None and size > SPLIT_ITEMS):
                if type(obj) is dict:  # over budget, or paced and large: a slice at a time
                    return self._collection(obj, obj.items(), size, {}, depth, exact=True)
                return self._collection(obj, obj, size, [], depth, exact=True)
            self._values_left -= size + 1  # its items, and itself
            if type(obj) is dict:
                return self._fill_dict(obj.items(), {}, depth, obj)
            return self._fill_list(obj, [], depth, obj)
        finally:
            path.discard(obj_id)

    def _collection(self, source: Any, items: Any, size: int, result: dict | list, depth: int,
                    exact: bool) -> dict | list | str:
        """The ``size`` ``items`` of ``source`` (pairs for a dict ``result``), within
        MAX_VALUES (the container counts as one, its items one each); paced, later when
        ``source`` is large or the deadline has passed."""
        taken = max(min(size, self._values_left - 1), 0)
        left_out = size - taken
        if self._values_left <= 0 or (left_out and not taken):  # spent: not even a container
            self._left_out += size
            return f"<{size} items left out>"
        self._values_left -= taken + 1
        if left_out or not exact:  # exact dicts and lists: their len() is their size
            items = islice(items, taken)
        if self._waiting is not None and size > SPLIT_ITEMS:  # a slice at a time, later
            if exact and type(source) is dict:
                self._wait(source, islice(source, taken), result, depth, left_out, keyed=True)
            else:
                self._wait(source, items, result, depth, left_out)
            return result
        if type(result) is dict:
            return self._fill_dict(items, result, depth, source, left_out)
        return self._fill_list(items, result, depth, source, left_out)

    def _wait(self, source: Any, items: Any, result: dict | list, depth: int,
              left_out: int, keyed: bool = False) -> None:
        """Paced: ``items`` of ``source`` go into ``result`` later (``work()``)."""
        assert self._waiting is not None
        self._waiting.append(_Waiting(source, list(items), keyed, result, depth,
                                      frozenset(self._path_ids), left_out))

    def _fill_dict(self, items: Any, result: dict[str, Any], depth: int, source: Any,
                   left_out: int = 0) -> dict[str, Any]:
        """Serialize the (key, value) ``items`` of ``source`` into ``result``; ``left_out``:
        how many items MAX_VALUES left out (a marker at the end). Paced, the items after one
        that leaves the deadline behind wait their turn (``work()``)."""
        paced, max_string = self._waiting is not None, MAX_STRING
        room = self._text_left  # MAX_TEXT: a local between calls out (attributes cost)
        # A key made text (an int, a tuple, a str cut) may have the text of another key of
        # the same dict: looked for once the dict has one, so plain dicts pay nothing.
        converted = id(result) in self._converted if self._converted else False
        items = iter(items)
        for key, item in items:
            if type(key) is str and (size := len(key)) <= room and size <= max_string \
                    and key.isascii():
                room -= size
                if converted and key in result:
                    key = self._distinct_key(key, key, result)
            elif room <= 0:  # MAX_TEXT is spent: no key, so no item (keys cut would collide)
                left_out += 1
                continue
            else:
                self._text_left = room
                original, key = key, self.key(key)
                room = self._text_left
                if not converted:
                    converted = True
                    self._converted.add(id(result))
                if key in result:
                    key = self._distinct_key(key, original, result)
            kind = type(item)  # plain leaves inline: a call per leaf costs
            if kind is str:
                if (size := len(item)) <= room and size <= max_string and item.isascii():
                    room -= size
                    result[key] = item
                    continue
            elif kind is bool or item is None or (kind is int and _INT_MIN <= item <= _INT_MAX):
                result[key] = item
                continue
            self._text_left = room
            result[key] = self.value(item, depth + 1)
            room = self._text_left
            if paced and perf_counter() > self.deadline:
                self._wait(source, items, result, depth, left_out)
                return result
        self._text_left = room
        if left_out:
            self._leave_out(result, left_out)
        return result

    def _fill_list(self, items: Any, result: list[Any], depth: int, source: Any,
                   left_out: int = 0) -> list[Any]:
        """``_fill_dict`` for the values of a sequence or set."""
        paced, max_string = self._waiting is not None, MAX_STRING
        room = self._text_left
        append = result.append
        items = iter(items)
        for item in items:
            kind = type(item)
            if kind is str:
                if (size := len(item)) <= room and size <= max_string and item.isascii():
                    room -= size
                    append(item)
                    continue
            elif kind is bool or item is None or (kind is int and _INT_MIN <= item <= _INT_MAX):
                append(item)
                continue
            self._text_left = room
            append(self.value(item, depth + 1))
            room = self._text_left
            if paced and perf_counter() > self.deadline:
                self._wait(source, items, result, depth, left_out)
                return result
        self._text_left = room
        if left_out:
            self._leave_out(result, left_out)
        return result

    def _leave_out(self, result: dict | list, count: int) -> None:
        self._left_out += count
        marker = f"<{count} more items left out: the event is over its bounds>"
        if type(result) is dict:
            result[LEFT_OUT_KEY] = marker
        else:
            result.append(marker)

    def _container(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, Mapping):
            return self._collection(obj, obj.items(), len(obj), {}, depth, exact=False)
        if isinstance(obj, list | tuple | set | frozenset):
            return self._collection(obj, iter(obj), len(obj), [], depth, exact=False)
        try:
            as_dict = getattr(obj, "as_dict", None)
        except Exception as exc:
            return self._degrade(obj, f"as_dict raised {_error(exc)}")
        if callable(as_dict):
            started = perf_counter()
            try:
                data = _as_dict(obj, as_dict)
            except Exception as exc:  # a broken object must not break the handler
                return self._degrade(obj, f"as_dict() raised {_error(exc)}")
            if perf_counter() - started > SLOW_CALL:
                self._note_slow(obj, "as_dict()", started)
            checked = self._round_trip(data, depth + 1)
            return self.value(data, depth + 1) if checked is None else checked
        kind = _object_kind(type(obj))
        if kind is _PYOF_VALUE or kind is _PYDANTIC:
            how, started = "value" if kind is _PYOF_VALUE else "model_dump()", perf_counter()
            try:
                data = obj.value if kind is _PYOF_VALUE else obj.model_dump()
            except Exception as exc:
                return self._degrade(obj, f"{how} raised {_error(exc)}")
            if perf_counter() - started > SLOW_CALL:
                self._note_slow(obj, how, started)
            return self.value(data, depth + 1)
        try:
            parts = topology_parts(obj)
        except Exception as exc:
            return self._degrade(obj, f"reading its switches and links raised {_error(exc)}")
        if parts is not None:
            return {"switches": self.value(parts[0], depth + 1),
                    "links": self.value(parts[1], depth + 1)}
        return self._attributes(obj, depth, dataclass_fields=kind is _DATACLASS)

    def _round_trip(self, data: Any, depth: int) -> Any:
        """``data``, an as_dict()'s dict at ``depth``, as the walk would give it, when one orjson
        round trip shows that the walk would change nothing; else None (the walk does it).

        The walk costs a Python step per value (14 against 6 us for a link's dict): this is
        the same check in C. orjson refuses what the walk changes or cuts - a key that is not
        exactly a str (``_switch_dict`` makes a core Switch's InterfaceID keys text first), an
        int beyond 64 bits, lone surrogates, cycles, any other type (float, dict and list
        subclasses, datetimes, dataclasses: handed to ``_as_walked``, which refuses them) - and
        what it writes otherwise is compared with ``data``: NaN and the infinities (written null),
        tuples (lists), UUIDs (their text) and enums that are not also a str, int or float
        (their value) compare unequal; an enum that is one equals its value, which is what
        both send. A JSON of at most ROUND_TRIP_BYTES (so no string over MAX_STRING) whose
        containers nest no deeper than the levels left to MAX_DEPTH (``_nests_within``, when it
        has more "{" and "[" than that) cannot be cut nor be too deep. Counted against the
        event's bounds by its JSON: its length for MAX_TEXT, commas and twice its brackets
        for MAX_VALUES (both at least what the walk counts); when either is short the walk
        goes on, to cut exactly. An as_dict() holds the loop longer making a
        dict than orjson takes writing it."""
        if type(data) is not dict:
            return None
        try:
            encoded = orjson.dumps(data, default=_as_walked, option=_ROUND_TRIP_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: something the walk changes or cuts
            return None
        size = len(encoded)
        containers = encoded.count(b"{") + encoded.count(b"[")
        values = encoded.count(b",") + 2 * containers
        if size > ROUND_TRIP_BYTES or size > self._text_left or values >= self._values_left \
                or (containers > MAX_DEPTH - depth
                    and not _nests_within(data, MAX_DEPTH - depth)):
            return None
        try:
            checked = orjson.loads(encoded)  # a copy: as_dict() may share the object's dicts
            if checked != data:
                return None
        except Exception:  # an orjson.Fragment that is not JSON, an enum whose __eq__ raises
            return None
        self._text_left -= size
        self._values_left -= values
        return checked

    def _attributes(self, obj: Any, depth: int, dataclass_fields: bool) -> Any:
        """A dataclass's fields; another object's public instance attributes."""
        if isinstance(obj, type | types.ModuleType) or callable(obj):
            return self._degrade(obj, "no JSON form known")
        try:
            if dataclass_fields:
                data = {field.name: getattr(obj, field.name)
                        for field in dataclasses.fields(obj)}
            else:
                attributes = vars(obj)
                data = {name: item for name, item in islice(attributes.items(), MAX_VALUES)
                        if type(name) is str and not name.startswith("_")
                        and not inspect.isroutine(item)}
        except TypeError:  # no __dict__ (slots, builtins)
            return self._degrade(obj, "no JSON form known")
        except Exception as exc:
            return self._degrade(obj, f"reading its attributes raised {_error(exc)}")
        if not data:
            return self._degrade(obj, "no JSON form known")
        return self._collection(data, data.items(), len(data), {}, depth, exact=True)

    def key(self, key: Any) -> str:
        text = self.value(key)
        return text if isinstance(text, str) else self._string(str(text))

    def _note_slow(self, obj: Any, call: str, started: float) -> None:
        """One call of an object's own code (``started``: ``perf_counter()`` before it) held
        the loop longer than SLOW_CALL: nothing can interrupt it, so it is said, naming the
        type, for the operator to find the NApp at fault."""
        spent = perf_counter() - started
        name = _safe_text(lambda: type(obj).__name__, "?")
        self._warn(f"{name} {call} took {spent * 1000:.0f} ms, holding Kytos' event loop "
                   "(its own code, or the host busy: nothing can interrupt it)")

    def _distinct_key(self, text: str, original: Any, result: dict[str, Any]) -> str:
        """A key whose text another key of ``result`` has already (1 and "1", None and
        "None"): kept under a text of its own, "<text> <type key>", with a warning; the
        value is not lost."""
        name = _safe_text(lambda: type(original).__name__, "?")
        distinct, number = f"{text} <{name} key>", 2
        while distinct in result:
            distinct, number = f"{text} <{name} key {number}>", number + 1
        self._warn(f"{name} key {text[:MAX_REPR]!r} has the text of another key of its dict: "
                   f"kept as {distinct[:MAX_REPR]!r}")
        return distinct

    def _string(self, text: str) -> str:
        """A string that is not ASCII, longer than MAX_STRING or past what is left of
        MAX_TEXT: cut to them (before anything else: a string may be megabytes); kept unless
        it cannot be UTF-8 (lone surrogates), then escaped."""
        limit = min(MAX_STRING, max(self._text_left, 0))
        cut = len(text) - limit
        if cut > 0:
            text = text[:limit]
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                self._warn("str has characters that are not valid UTF-8 (escaped)")
                text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        self._text_left -= len(text)
        if cut > 0:
            self._cut_strings += 1
            self._cut_chars += cut
            text += f"...<{cut} characters cut>"
        return text

    def _bytes(self, data: bytes | bytearray | memoryview) -> str:
        """Bytes as text (UTF-8), the first MAX_STRING bytes (no more than is left of
        MAX_TEXT); from the first byte that is not UTF-8 on, at most MAX_BINARY bytes, the
        invalid ones as \\xNN escapes (escaping costs Python a call per byte)."""
        limit = min(MAX_STRING, max(self._text_left, 0))
        try:
            size = data.nbytes if isinstance(data, memoryview) else len(data)
            head = data[:limit].tobytes() if isinstance(data, memoryview) \
                else bytes(data[:limit])
        except Exception as exc:  # a memoryview of several dimensions
            return self._degrade(data, f"cannot be read as bytes ({_error(exc)})")
        try:
            decoded = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            head = head[:exc.start + MAX_BINARY]
            decoded = head[:exc.start].decode("utf-8") + head[exc.start:].decode(
                "utf-8", errors="backslashreplace")
        text = self._string(decoded)
        if size > len(head):
            self._cut_strings += 1
            self._cut_chars += size - len(head)
            text += f"...<{size - len(head)} bytes cut>"
        return text

    def _big_int(self, number: int) -> str:
        self._warn("int does not fit in 64 bits (sent as a string)")
        try:
            return self._string(str(number))
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            return f"<int of {number.bit_length()} bits>"

    def _warn(self, warning: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(warning)
        else:
            self._more_warnings += 1

    def _degrade(self, obj: Any, why: str, text: str | None = None) -> str:
        name = _safe_text(lambda: type(obj).__name__, "?")
        self._warn(f"{name} {why}")
        if text is not None:
            return text
        shown = _safe_text(lambda: _BoundedRepr().repr(obj), "?")  # repr may be broken
        if len(shown) > MAX_REPR:
            shown = shown[:MAX_REPR] + "..."
        return self._string(f"<unserializable {name}: {shown}>")


def _subclass_text(text: str) -> str:
    """A str subclass's text: its str(), else (a __str__ that raises or gives no str) its
    characters."""
    try:
        shown = str(text)
    except Exception:
        return str.__str__(text)
    return shown if type(shown) is str else str.__str__(text)


def _nests_within(data: dict[str, Any], levels: int) -> bool:
    """Whether no container of ``data`` has items ``levels`` levels down (``data``'s own are
    one level down): none of its lines, indented by orjson two spaces a level, is indented
    ``2 x levels`` (a JSON string holds no newline). One more orjson call, in C, where
    following the brackets of the JSON took a Python step per string: a switch of 50 ports
    has 150 containers, three levels deep."""
    indented = orjson.dumps(data, default=_as_walked,
                            option=_ROUND_TRIP_OPTIONS | orjson.OPT_INDENT_2)
    return b"\n" + b" " * (2 * levels) not in indented


def _as_walked(obj: Any) -> Any:
    """orjson's ``default`` in ``Serializer._round_trip``: a str or int subclass as the walk
    sends it (``_subclass_text``; its int); anything else ends the round trip."""
    if isinstance(obj, str):
        return _subclass_text(obj)
    if isinstance(obj, int):
        return int.__index__(obj)
    raise TypeError(type(obj).__name__)


# -- Kytos core objects, without core's warnings ---------------------------------------------
#
# In kytos-ng 2025.2.1 the one property that as_dict() reads and that logs is Interface.speed
# (kytos/core/interface.py:656-692): when neither the port's OpenFlow features nor a custom
# speed give a speed, and the port is not OFPP_LOCAL, it logs WARNING "Couldn't get port %s
# speed, sw %s, feats %s" on the "kytos.core.interface" logger and returns None - for every
# virtual port, every switch that reports no speed. Interface.as_dict() reads it (:812), Link's
# through both endpoints (link.py:231-232), Switch's through every interface (switch.py:398-401).
#
# So each is serialized by its class's own as_dict() run on a twin: an instance of a subclass
# that shares the object's ``__dict__`` (the "Borg" idiom), so that every attribute, property
# and method is the object's own, at the speed of the object's own, but for a few members: an
# interface's speed, worked out quietly; a link's endpoints and a switch's interfaces, which
# are such interface twins (made once per as_dict(), kept in the twin's slots). Same dict,
# field for field, as as_dict(); no warning. Nothing is changed on the objects themselves
# (other threads read them) and no logger is touched. An object not shaped like core's (no
# ``__dict__``, or not these attributes in it) makes the twin raise: its own as_dict() runs.

_OFPP_LOCAL_V0X01, _OFPP_LOCAL_V0X04 = 0xFFFE, 0xFFFFFFFE  # python-openflow's PortNo values


def quiet_speed(interface: Any) -> Any:
    """``Interface.speed`` as core computes it (interface.py:669-681), without its warning:
    None when the speed is unknown - or cannot be worked out (never raises)."""
    try:
        speed = interface.get_of_features_speed()
        if speed is None:
            speed = interface.get_custom_speed()
        if speed is None and interface.port_number == (
                _OFPP_LOCAL_V0X04 if interface._is_v0x04() else _OFPP_LOCAL_V0X01):
            speed = 0
    except Exception:  # an interface not shaped like core's: speed unknown
        return None
    return speed


# The members a twin replaces, per kind of object; a twin's own values are in its slots.
_QUIET_MEMBERS: dict[str, dict[str, Any]] = {
    "interface": {"speed": property(quiet_speed)},
    "link": {"__slots__": ("_quiet_a", "_quiet_b"),
             "endpoint_a": property(attrgetter("_quiet_a")),
             "endpoint_b": property(attrgetter("_quiet_b"))},
    "switch": {"__slots__": ("_quiet_interfaces",),
               "interfaces": property(attrgetter("_quiet_interfaces"))},
}


@lru_cache(maxsize=64)
def _quiet_class(cls: type, kind: str) -> type:
    return type(f"Quiet{cls.__name__}", (cls,), dict(_QUIET_MEMBERS[kind]))


def _twin(obj: Any, kind: str) -> Any:
    """``obj``, but for its ``_QUIET_MEMBERS[kind]`` (their slots, if any, still to fill)."""
    twin = object.__new__(_quiet_class(type(obj), kind))
    twin.__dict__ = obj.__dict__
    return twin


def _quiet_endpoint(interface: Any) -> Any:
    return _twin(interface, "interface") if _quiet_kind(type(interface)) is _interface_dict \
        else interface


def _interface_dict(interface: Any) -> Any:
    return _twin(interface, "interface").as_dict()


def _link_dict(link: Any) -> Any:
    twin = _twin(link, "link")
    state = link.__dict__
    twin._quiet_a = _quiet_endpoint(state["endpoint_a"])
    twin._quiet_b = _quiet_endpoint(state["endpoint_b"])
    return twin.as_dict()


def _switch_dict(switch: Any) -> Any:
    twin = _twin(switch, "switch")
    twin._quiet_interfaces = {key: _quiet_endpoint(interface)
                              for key, interface in switch.__dict__["interfaces"].items()}
    data = twin.as_dict()
    interfaces = data.get("interfaces") if type(data) is dict else None
    if type(interfaces) is dict:
        # Keyed by InterfaceID, a str subclass, which orjson refuses as a key: keyed by their
        # text as the walk would (``_subclass_text``), the switch goes through the round trip
        # (``Serializer._round_trip``) instead of the walk, in half the time.
        rekeyed = {
            _subclass_text(key) if type(key) is not str and isinstance(key, str) else key: value
            for key, value in interfaces.items()}
        if len(rekeyed) == len(interfaces):  # else two ids have one text: the walk keeps both
            data["interfaces"] = rekeyed
    return data


_QUIET_BY_CLASS = {"kytos.core.interface.Interface": _interface_dict,
                   "kytos.core.link.Link": _link_dict,
                   "kytos.core.switch.Switch": _switch_dict}


@lru_cache(maxsize=256)
def _quiet_kind(cls: type) -> Callable[[Any], Any] | None:
    """The quiet as_dict() for core's Interface, Link, Switch (and subclasses), else None.
    By name: this module imports nothing of Kytos."""
    for klass in cls.__mro__:
        quiet = _QUIET_BY_CLASS.get(f"{klass.__module__}.{klass.__qualname__}")
        if quiet is not None:
            return quiet
    return None


def _as_dict(obj: Any, as_dict: Callable[[], Any]) -> Any:
    """``as_dict()`` (bound to ``obj``), quiet for core's Interface, Link and Switch."""
    try:
        quiet = _quiet_kind(type(obj))
    except Exception:  # a class that cannot be hashed: no quiet way known
        quiet = None
    if quiet is not None:
        try:
            return quiet(obj)
        except Exception:  # not shaped like the core this was read from: its own
            pass  # as_dict(), below, gives the dict (or the error to report)
    return as_dict()


def serialize_content(content: Any) -> tuple[dict[str, Any], list[str]]:
    """Event content as a JSON-safe dict, and the warnings met on the way. In one go: see
    ``serialize_content_paced`` for the event loop."""
    serializer = Serializer()
    return serializer.content(content), serializer.finish()


async def serialize_content_paced(content: Any, pacer: Pacer
                                  ) -> tuple[dict[str, Any], list[str], bool]:
    """``serialize_content``, giving the event loop a turn whenever ``pacer`` says: large
    containers, and the rest of those being serialized when the pacer's budget is spent, are
    filled a slice at a time between turns of the loop. Also says whether the content is
    large (``Serializer.large``)."""
    serializer = Serializer(paced=True)
    serializer.deadline = pacer.deadline
    serialized = serializer.content(content)
    while serializer.pending:
        await pacer.pause()
        serializer.deadline = pacer.deadline
        serializer.work()
    return serialized, serializer.finish(), serializer.large
