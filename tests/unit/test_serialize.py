import asyncio
import dataclasses
import datetime as dt
import json
import math
import time
import types
import uuid
from enum import Enum

from pydantic import BaseModel

from listen_events.pacing import Pacer
from listen_events.serialize import (
    LEFT_OUT_KEY,
    MAX_BINARY,
    MAX_DEPTH,
    MAX_STRING,
    MAX_TEXT,
    MAX_VALUES,
    MAX_WARNINGS,
    SLOW_CALL,
    serialize_content,
    serialize_content_paced,
)
from tests.support.topology import make_link, make_topology


def _json_roundtrip(value):
    return json.loads(json.dumps(value, allow_nan=False))


def test_link_goes_through_as_dict_and_is_json_safe():
    link = make_link(1, interdomain=True)
    content, warnings = serialize_content({"link": link, "reason": "link down"})
    assert warnings == []
    assert content["link"]["id"] == str(link.id) and type(content["link"]["id"]) is str
    assert content["link"]["endpoint_a"]["id"] == "00:00:00:00:00:00:00:01:1"
    assert content["link"]["metadata"] == {"interdomain": True}
    assert _json_roundtrip(content) == content


def test_topology_object_without_as_dict_goes_through_switches_and_links():
    topology = make_topology(3, 2)
    failure = RuntimeError("switch unreachable")
    content, warnings = serialize_content(
        {"topology": topology, "failed_switches": {}, "failed_links": {"abc": failure}})
    assert warnings == []
    assert set(content["topology"]) == {"switches", "links"}
    assert len(content["topology"]["switches"]) == 3 and len(content["topology"]["links"]) == 2
    assert content["failed_links"] == {"abc": "RuntimeError: switch unreachable"}
    assert _json_roundtrip(content) == content


class Color(Enum):
    RED = "red"


class Shade(str, Enum):  # noqa: UP042 (a mixin: str() "Shade.DARK", sent as its value)
    DARK = "dark"


def test_scalars_uuid_datetime_enum_bytes():
    event_id = uuid.uuid4()
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=dt.timezone(dt.timedelta(hours=-3)))
    content, warnings = serialize_content({
        "id": event_id, "at": moment, "color": Color.RED, "raw": b"\xffok", "n": 1.5,
        "set": {1}, 7: "int key", "shade": Shade.DARK, Shade.DARK: "key"})
    assert warnings == []
    assert content == {"id": str(event_id), "at": "2026-01-02T06:04:05.006789+00:00",
                       "color": "red", "raw": "\\xffok", "n": 1.5, "set": [1], "7": "int key",
                       "shade": "dark", "dark": "key"}


class Opaque:
    def __repr__(self):
        return "Opaque()"


class BrokenAsDict:
    def as_dict(self):
        raise KeyError("boom")


def test_unknown_objects_degrade_with_warnings_never_raise():
    content, warnings = serialize_content({"thing": Opaque(), "broken": BrokenAsDict(),
                                           "nan": math.nan})
    assert content["thing"] == "<unserializable Opaque: Opaque()>"
    assert content["broken"].startswith("<unserializable BrokenAsDict")
    assert content["nan"] == "nan"
    assert len(warnings) == 3
    assert any("as_dict() raised KeyError" in warning for warning in warnings)
    assert _json_roundtrip(content) == content


def test_cycles_and_deep_nesting_are_cut():
    cycle: dict = {}
    cycle["self"] = cycle
    deep: list = []
    node = deep
    for _ in range(MAX_DEPTH + 10):
        node.append([])
        node = node[0]
    content, warnings = serialize_content({"cycle": cycle, "deep": deep})
    assert content["cycle"]["self"].startswith("<unserializable dict")
    assert any("cycle" in warning for warning in warnings)
    assert any("deeper" in warning for warning in warnings)
    _json_roundtrip(content)


def test_shared_but_acyclic_objects_are_not_cycles():
    shared = {"a": 1}
    content, warnings = serialize_content({"x": shared, "y": shared})
    assert warnings == [] and content == {"x": {"a": 1}, "y": {"a": 1}}


def test_non_dict_content_is_wrapped_with_a_warning():
    content, warnings = serialize_content(["a"])
    assert content == {"value": ["a"]}
    assert warnings == ["content is a list, not a dict"]


# -- any NApp's content, boundedly (issue 16) ------------------------------------------------

class GenericType:
    """Shaped like python-openflow's pyof.foundation.base.GenericType (UBInt32...)."""

    def __init__(self, value=None, enum_ref=None):
        self._value = value
        self.enum_ref = enum_ref

    @property
    def value(self):
        return self._value


GenericType.__module__ = "pyof.foundation.base"


class UBInt32(GenericType):
    pass


class HWAddress(GenericType):
    pass


class GenericStruct:
    """Shaped like python-openflow's GenericStruct: its fields are instance attributes."""

    def pack(self):
        return b""


GenericStruct.__module__ = "pyof.foundation.base"


class PortStats(GenericStruct):
    def __init__(self, port):
        self.port_no = UBInt32(port)
        self.rx_packets = UBInt32(1000 + port)
        self.hw_addr = HWAddress("00:00:00:00:00:01")


class Window(BaseModel):  # like kytos/maintenance's MaintenanceWindow
    id: str
    start: dt.datetime
    switches: list[str]
    status: Color


@dataclasses.dataclass(slots=True)
class Slotted:
    port: int
    name: str


class Connection:  # like core's Connection: public attributes, and private ones
    def __init__(self):
        self.address = "127.0.0.1"
        self.port = 6653
        self._state = "ESTABLISHED"
        self.on_close = print  # a callable: left out
        self.remaining_data = b"\x01\x02"


class DictRaises:
    @property
    def __dict__(self):
        raise RuntimeError("no attributes")


class StrRaises(Exception):
    def __str__(self):
        raise ValueError("no message")


class BadZone(dt.tzinfo):
    def utcoffset(self, _moment):
        raise RuntimeError("zone")


class Id(str):
    def __str__(self):
        raise RuntimeError("str")


def test_objects_of_other_napps_are_serialized_by_their_shape():
    start = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    content, warnings = serialize_content({
        "port_stats": [PortStats(1), PortStats(2)],
        "window": Window(id="mw1", start=start, switches=["00:01"], status=Color.RED),
        "slotted": Slotted(5, "eth5"),
        "connection": Connection(),
        "namespace": types.SimpleNamespace(a=1, b=[2]),
        "uint": UBInt32(7),
        "frozen": frozenset({"x"}),
    })
    assert warnings == []
    assert content == {
        "port_stats": [{"port_no": 1, "rx_packets": 1001, "hw_addr": "00:00:00:00:00:01"},
                       {"port_no": 2, "rx_packets": 1002, "hw_addr": "00:00:00:00:00:01"}],
        "window": {"id": "mw1", "start": "2026-03-01T08:00:00+00:00", "switches": ["00:01"],
                   "status": "red"},
        "slotted": {"port": 5, "name": "eth5"},
        "connection": {"address": "127.0.0.1", "port": 6653, "remaining_data": "\x01\x02"},
        "namespace": {"a": 1, "b": [2]},
        "uint": 7,
        "frozen": ["x"],
    }
    assert _json_roundtrip(content) == content


def test_objects_whose_own_code_raises_degrade_with_a_warning():
    content, warnings = serialize_content({
        "attributes": DictRaises(), "message": StrRaises(), "zone": dt.datetime(
            2026, 1, 1, tzinfo=BadZone()), "class": dict, "function": print, "module": math,
        "no_attributes": object(), "id": Id("abc"), "huge": 10**5000})
    assert content["attributes"].startswith("<unserializable DictRaises")
    assert content["message"].startswith("<unserializable StrRaises")
    assert content["zone"].startswith("<unserializable datetime")
    assert content["class"] == "<unserializable type: <class 'dict'>>"
    assert content["function"].startswith("<unserializable builtin_function_or_method")
    assert content["module"].startswith("<unserializable module")
    assert content["no_attributes"].startswith("<unserializable object")
    assert content["id"] == "abc"  # a str subclass whose str() raises: its characters
    assert content["huge"] == f"<int of {(10**5000).bit_length()} bits>"
    assert len(warnings) == 8
    assert "DictRaises reading its attributes raised RuntimeError: no attributes" in warnings
    assert "StrRaises str() raised ValueError: no message" in warnings
    _json_roundtrip(content)


def test_values_are_bounded_and_what_is_left_out_is_said():
    content, warnings = serialize_content({"items": list(range(MAX_VALUES * 2)),
                                           "after": {"a": 1}})
    items = content["items"]
    assert items[:3] == [0, 1, 2] and items[-1].startswith("<") and "left out" in items[-1]
    assert len(items) < MAX_VALUES
    assert content["after"] == "<1 items left out>"  # the budget is spent
    assert any(f"over its bounds ({MAX_VALUES} values" in warning for warning in warnings)
    wide = {str(number): number for number in range(MAX_VALUES + 10)}
    content, _ = serialize_content(wide)
    assert LEFT_OUT_KEY in content and len(content) <= MAX_VALUES


def test_strings_and_bytes_are_cut():
    content, warnings = serialize_content({
        "long": "x" * (MAX_STRING + 5), "binary": b"\xff" * (MAX_BINARY * 3),
        "text": "é" * 10})
    assert content["long"] == "x" * MAX_STRING + "...<5 characters cut>"
    assert content["binary"].startswith("\\xff\\xff")
    assert content["binary"].count("\\xff") == MAX_BINARY
    assert content["binary"].endswith(f"...<{MAX_BINARY * 2} bytes cut>")
    assert content["text"] == "é" * 10
    assert any("strings cut" in warning for warning in warnings)
    # MAX_TEXT per event: many strings, each within MAX_STRING
    content, warnings = serialize_content({f"s{n}": "y" * MAX_STRING for n in range(40)})
    assert sum(len(key) + len(value) for key, value in content.items()) < MAX_TEXT + 40 * 60
    assert content["s15"].endswith("characters cut>")  # the one that reached the limit
    assert content[LEFT_OUT_KEY] == "<24 more items left out: the event is over its bounds>"
    assert any("strings cut" in w for w in warnings)
    assert any("24 items left out" in w for w in warnings)


def test_warnings_are_bounded():
    content, warnings = serialize_content({"opaque": [Opaque() for _ in range(500)]})
    assert len(content["opaque"]) == 500
    assert len(warnings) == MAX_WARNINGS + 1
    assert warnings[-1] == f"{500 - MAX_WARNINGS} more values degraded"


class _Slow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def as_dict(self):
        time.sleep(self.seconds)  # another NApp's object whose as_dict() blocks
        return {"slept": self.seconds}


class _SlowModel(BaseModel):
    seconds: float

    def model_dump(self, **kwargs):
        time.sleep(self.seconds)
        return super().model_dump(**kwargs)


def test_an_as_dict_that_holds_the_loop_is_said_naming_its_type():
    serialized, warnings = serialize_content({"fast": _Slow(0), "slow": _Slow(SLOW_CALL * 1.5),
                                              "model": _SlowModel(seconds=SLOW_CALL * 1.5)})
    assert serialized == {"fast": {"slept": 0}, "slow": {"slept": SLOW_CALL * 1.5},
                          "model": {"seconds": SLOW_CALL * 1.5}}
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("_Slow as_dict() took ") and warnings[0].endswith(
        " ms, holding Kytos' event loop (its own code, or the host busy: nothing can "
        "interrupt it)")
    assert warnings[1].startswith("_SlowModel model_dump() took ")


async def test_keys_with_the_same_text_keep_every_value_with_a_warning():
    # 1 beside "1", None beside "None", a tuple beside its text: each key becomes text, and
    # one that another key of its dict has already is kept under a text of its own.
    content = {1: "int", "1": "str", None: "none", "None": "text", (1, 2): "tuple",
               "[1, 2]": "list text", "plain": {"a": 1, 2: "two", "2": "text two"}}
    serialized, warnings = serialize_content(content)
    assert serialized == {"1": "int", "1 <str key>": "str", "None": "none",
                          "None <str key>": "text", "[1, 2]": "tuple",
                          "[1, 2] <str key>": "list text",
                          "plain": {"a": 1, "2": "two", "2 <str key>": "text two"}}
    assert warnings == [f"str key {key!r} has the text of another key of its dict: kept as "
                        f"{key + ' <str key>'!r}" for key in ("1", "None", "[1, 2]", "2")]
    # The other way round (the str first), a third of the same text, and paced through a
    # dict served a slice at a time: the same.
    many = {"7": "str", 7: "int", 7.0 + 0.5: "float", **{f"k{n}": n for n in range(600)},
            "7.5": "str 7.5", b"7": "bytes"}
    serialized, warnings = serialize_content(many)
    paced, paced_warnings, _ = await serialize_content_paced(many, Pacer(0.0))
    assert (paced, paced_warnings) == (serialized, warnings)
    assert len(serialized) == len(many) and serialized["7"] == "str" \
        and serialized["7 <int key>"] == "int" and serialized["7.5"] == "float" \
        and serialized["7.5 <str key>"] == "str 7.5" and serialized["7 <bytes key>"] == "bytes"
    assert len(warnings) == 3
    # A plain dict pays nothing and is left as it is.
    assert serialize_content({"1": 1, "2": 2}) == ({"1": 1, "2": 2}, [])


async def test_paced_serialization_gives_the_same_result_and_the_loop_turns():
    content = {"links": [make_link(index % 40 + 1) for index in range(300)],
               "topology": make_topology(5, 8), "big": {str(n): [n] * 3 for n in range(2000)},
               "deep": _nest(MAX_DEPTH + 5), "cycle": _cycle(), "set": set(range(500))}
    expected = serialize_content(content)
    turns = 0

    async def tick() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    pacer = Pacer(0.0)  # due at every look at the clock
    serialized, warnings, large = await serialize_content_paced(content, pacer)
    ticker.cancel()
    assert (serialized, warnings) == expected
    assert large and pacer.pauses > 300 and turns >= pacer.pauses
    small, _, large = await serialize_content_paced({"link": make_link(1)}, Pacer())
    assert small == serialize_content({"link": make_link(1)})[0] and not large


def _nest(depth):
    value: object = 1
    for _ in range(depth):
        value = {"d": [value]}
    return value


def _cycle():
    cycle: dict = {"name": "loop"}
    cycle["self"] = cycle
    return cycle
