"""Kytos objects -> JSON-safe data.

Switch, Interface and Link go through their ``as_dict()`` - without core's speed warnings; the
Topology carried by ``topology_loaded`` / ``updated`` (no ``as_dict``) through its ``switches``
and ``links``; exceptions become "Type: message"; UUIDs, datetimes and enums become strings.
Anything else degrades to a clear ``<unserializable Type: repr>`` string and a warning: the
caller never sees an exception because of content.
"""

import datetime as dt
import enum
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_DEPTH = 64
MAX_REPR = 200


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


def _is_plain(item: Any) -> bool:
    """A leaf that JSON takes as it is (checked inline on the hot path)."""
    kind = type(item)
    return (item is None or kind is bool or (kind is str and item.isascii())
            or (kind is int and _INT_MIN <= item <= _INT_MAX))


class Serializer:
    """Serializes one value; collects a warning for everything it could not keep as it was."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self._path_ids: set[int] = set()

    def value(self, obj: Any, depth: int = 0) -> Any:
        kind = type(obj)
        if kind is str:
            return obj if obj.isascii() else self._text(obj)
        if kind is int:
            return obj if _INT_MIN <= obj <= _INT_MAX else self._big_int(obj)
        if kind is bool or obj is None:
            return obj
        if depth >= MAX_DEPTH:
            return self._degrade(obj, f"nested deeper than {MAX_DEPTH} levels")
        if kind is dict or kind is list:
            return self._plain_container(obj, depth)
        if kind is Serialized:
            return obj.value
        if isinstance(obj, str):  # str subclasses (Link.id, Interface.id): common, so early
            return self.value(str(obj), depth)
        if isinstance(obj, float):
            if math.isfinite(obj):
                return obj
            return self._degrade(obj, "not a finite number", text=str(obj))
        if isinstance(obj, int):  # IntEnum, other int subclasses
            return self.value(int(obj), depth)
        if isinstance(obj, dt.datetime):
            if obj.tzinfo is not None:
                obj = obj.astimezone(dt.UTC)
            return obj.isoformat()
        if isinstance(obj, dt.date | dt.time):
            return obj.isoformat()
        if isinstance(obj, uuid.UUID):
            return str(obj)
        if isinstance(obj, enum.Enum):
            return self.value(obj.value, depth + 1)
        if isinstance(obj, BaseException):
            return f"{type(obj).__name__}: {obj}"
        if isinstance(obj, bytes | bytearray):
            return bytes(obj).decode("utf-8", errors="backslashreplace")
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
        if id(obj) in self._path_ids:
            return self._degrade(obj, "refers to itself (cycle)")
        self._path_ids.add(id(obj))
        try:
            if type(obj) is dict:
                result: dict[str, Any] = {}
                for key, item in obj.items():
                    if type(key) is not str or not key.isascii():
                        key = self.key(key)
                    kind = type(item)  # _is_plain(item), inline: a call per leaf costs
                    if (kind is str and item.isascii()) or kind is bool or item is None \
                            or (kind is int and _INT_MIN <= item <= _INT_MAX):
                        result[key] = item
                    else:
                        result[key] = self.value(item, depth + 1)
                return result
            return [item if _is_plain(item) else self.value(item, depth + 1) for item in obj]
        finally:
            self._path_ids.discard(id(obj))

    def _container(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, Mapping):
            return {self.key(key): self.value(item, depth + 1) for key, item in obj.items()}
        if isinstance(obj, list | tuple | set | frozenset):
            return [self.value(item, depth + 1) for item in obj]
        as_dict = getattr(obj, "as_dict", None)
        if callable(as_dict):
            try:
                data = _as_dict(obj, as_dict)
            except Exception as exc:  # a broken object must not break the handler
                return self._degrade(obj, f"as_dict() raised {type(exc).__name__}: {exc}")
            return self.value(data, depth + 1)
        parts = topology_parts(obj)
        if parts is not None:
            return {"switches": self.value(parts[0], depth + 1),
                    "links": self.value(parts[1], depth + 1)}
        return self._degrade(obj, "no JSON form known")

    def key(self, key: Any) -> str:
        text = self.value(str(key) if isinstance(key, str) else key)
        return text if isinstance(text, str) else str(text)

    def _text(self, text: str) -> str:
        """Non-ASCII text: kept unless it cannot be UTF-8 (lone surrogates), then escaped."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.warnings.append("str has characters that are not valid UTF-8 (escaped)")
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return text

    def _big_int(self, number: int) -> str:
        self.warnings.append("int does not fit in 64 bits (sent as a string)")
        return str(number)

    def _degrade(self, obj: Any, why: str, text: str | None = None) -> str:
        name = type(obj).__name__
        self.warnings.append(f"{name} {why}")
        if text is not None:
            return text
        try:
            shown = repr(obj)
        except Exception:  # repr itself may be broken
            shown = "?"
        if len(shown) > MAX_REPR:
            shown = shown[:MAX_REPR] + "..."
        return f"<unserializable {name}: {shown}>"


# -- Kytos core objects, without core's warnings ---------------------------------------------
#
# In kytos-ng 2025.2.1 the one property that as_dict() reads and that logs is Interface.speed
# (kytos/core/interface.py:656-692): when neither the port's OpenFlow features nor a custom
# speed give a speed, and the port is not OFPP_LOCAL, it logs WARNING "Couldn't get port %s
# speed, sw %s, feats %s" on the "kytos.core.interface" logger and returns None - for every
# virtual port, every switch that reports no speed. Interface.as_dict() reads it (:812), Link's
# through both endpoints (link.py:231-232), Switch's through every interface (switch.py:398-401).
#
# So interfaces are serialized through a twin whose speed is worked out quietly, and links and
# switches by their class's own as_dict() run against a stand-in ``self`` whose endpoints or
# interfaces are such twins. Same dict, field for field, as as_dict(); no warning. Nothing is
# changed on the objects themselves (other threads read them) and no logger is touched.

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


@lru_cache(maxsize=64)
def _quiet_class(cls: type) -> type:
    return type(f"Quiet{cls.__name__}", (cls,), {"speed": property(quiet_speed)})


def _twin(interface: Any) -> Any:
    """The interface, but for its speed, which is quiet: an instance of a subclass that shares
    the interface's ``__dict__`` (the "Borg" idiom), so that every attribute, property and
    method is the interface's own - cheaper than a proxy, which pays for each attribute."""
    twin = object.__new__(_quiet_class(type(interface)))
    twin.__dict__ = interface.__dict__
    return twin


def _quiet_endpoint(interface: Any) -> Any:
    return _twin(interface) if _quiet_kind(type(interface)) is _interface_dict else interface


_slot = object.__getattribute__


class _StandIn:
    """``self`` for a Link's or Switch's own as_dict(): the object, but for the attributes
    replaced. Everything else - properties, methods - is the object's, run with the object."""

    __slots__ = ("_obj", "_replaced")

    def __init__(self, obj: Any, replaced: dict[str, Any]) -> None:
        self._obj = obj
        self._replaced = replaced

    def __getattribute__(self, name: str) -> Any:
        # Not __getattr__: on Python 3.11 each miss that reaches it costs an AttributeError.
        replaced = _slot(self, "_replaced")
        if name in replaced:
            return replaced[name]
        return getattr(_slot(self, "_obj"), name)


def _interface_dict(interface: Any) -> Any:
    return _twin(interface).as_dict()


def _link_dict(link: Any) -> Any:
    return type(link).as_dict(_StandIn(link, {
        "endpoint_a": _quiet_endpoint(link.endpoint_a),
        "endpoint_b": _quiet_endpoint(link.endpoint_b)}))


def _switch_dict(switch: Any) -> Any:
    interfaces = {key: _quiet_endpoint(interface)
                  for key, interface in switch.interfaces.items()}
    return type(switch).as_dict(_StandIn(switch, {"interfaces": interfaces}))


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
    """Event content as a JSON-safe dict, and the warnings met on the way."""
    serializer = Serializer()
    if not isinstance(content, Mapping):
        return {"value": serializer.value(content)}, [
            f"content is a {type(content).__name__}, not a dict", *serializer.warnings]
    return serializer.value(content), serializer.warnings
