"""An as_dict()'s dict checked by an orjson round trip (``Serializer._round_trip``) gives the
walk's result, warnings included, or is left to the walk."""

import datetime as dt
import enum
import math
import random
import re
import uuid

import orjson
import pytest
from kytos.core.interface import Interface
from kytos.core.switch import Switch

from listen_events import serialize
from listen_events.serialize import MAX_DEPTH, MAX_TEXT, Serializer, serialize_content
from tests.support.topology import add_interface, make_link, make_topology


class AsDict:
    """Another NApp's object: its as_dict() returns ``data`` itself (not a copy)."""

    def __init__(self, data):
        self.data = data

    def as_dict(self):
        return self.data


class Name(str):
    pass


class Renamed(str):
    def __str__(self):
        return "renamed"


class BrokenStr(str):
    def __str__(self):
        raise RuntimeError("no str")


class Count(int):
    pass


class Ratio(float):
    pass


class Mapping(dict):
    pass


class Items(list):
    pass


class Level(enum.IntEnum):
    HIGH = 3


class Color(enum.Enum):
    RED = "red"


class Mode(enum.StrEnum):
    FAST = "fast"


class Shade(str, enum.Enum):  # noqa: UP042 (a mixin: str() "Shade.DARK", value "dark")
    DARK = "dark"


class Weight(float, enum.Enum):
    HEAVY = 2.5


def nested(levels):
    value = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def cyclic():
    value = {"a": 1}
    value["self"] = value
    return value


# (case, data, whether the round trip takes it)
CASES = [
    ("plain", {"id": "x", "port": 1, "speed": None, "up": True, "rate": 1.5,
               "tags": [[1, 4095]], "metadata": {"k": "v"}}, True),
    ("non-ASCII text", {"name": "porta São Paulo ✓"}, True),
    ("empty containers", {"a": {}, "b": []}, True),
    ("str subclass", {"id": Name("00:01:1")}, True),
    ("str subclass whose str() raises", {"id": BrokenStr("x")}, True),
    ("int subclass", {"port": Count(7)}, True),
    ("IntEnum", {"level": Level.HIGH}, True),
    ("StrEnum", {"mode": Mode.FAST}, True),
    ("(str, Enum)", {"shade": Shade.DARK}, True),
    ("(float, Enum)", {"weight": Weight.HEAVY}, True),
    ("(str, Enum) key", {Shade.DARK: 1}, False),
    ("int at the 64-bit bounds", {"a": -(2**63), "b": 2**64 - 1}, True),
    ("nested to the last level", nested(MAX_DEPTH - 2), True),
    # More containers than levels left: how deep they nest is looked at (_nests_within).
    ("more containers than levels, three deep", {"ports": [{"tags": [1]}] * 100}, True),
    ("more containers than levels, to the last level",
     {"a": nested(MAX_DEPTH - 3), "b": [[]] * MAX_DEPTH}, True),
    ("more containers than levels, escaped newlines and spaces in strings",
     {"a": "\n" + " " * 200, "b": [[]] * MAX_DEPTH}, True),
    ("str subclass with its own str()", {"id": Renamed("x")}, False),
    ("NaN", {"speed": math.nan}, False),
    ("infinity", {"speed": -math.inf}, False),
    ("tuple", {"range": (1, 2)}, False),
    ("Enum", {"color": Color.RED}, False),
    ("UUID", {"id": uuid.UUID(int=5)}, False),
    ("datetime", {"at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}, False),
    ("date", {"on": dt.date(2026, 1, 2)}, False),
    ("int beyond 64 bits", {"a": 2**64}, False),
    ("float subclass", {"a": Ratio(0.5)}, False),
    ("dict subclass", {"a": Mapping(b=1)}, False),
    ("list subclass", {"a": Items([1])}, False),
    ("int key", {1: "a"}, False),
    ("str subclass key", {Name("k"): 1}, False),
    ("lone surrogate", {"a": "\ud800"}, False),
    ("bytes", {"a": b"raw"}, False),
    ("object with as_dict", {"a": AsDict({"b": 1})}, False),
    ("JSON fragment", {"a": orjson.Fragment(b'{"b":1}')}, False),
    ("fragment that is not JSON", {"a": orjson.Fragment(b"{")}, False),
    ("nested one level too deep", nested(MAX_DEPTH - 1), False),
    ("more containers than levels, one level too deep",
     {"a": nested(MAX_DEPTH - 2), "b": [[]] * MAX_DEPTH}, False),
    ("cycle", cyclic(), False),
    ("longer than ROUND_TRIP_BYTES", {"a": "x" * serialize.ROUND_TRIP_BYTES}, False),
    ("string over MAX_STRING", {"a": "x" * (serialize.MAX_STRING + 1)}, False),
]


def walked(content, monkeypatch):
    """serialize_content(content) with the round trip off: the walk alone."""
    with monkeypatch.context() as patch:
        patch.setattr(serialize, "ROUND_TRIP_BYTES", -1)
        return serialize_content(content)


@pytest.mark.parametrize(("data", "taken"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_the_round_trip_takes_only_what_the_walk_keeps_as_it_is(data, taken):
    # An as_dict() at depth 1 of the content: its dict at 2.
    assert (Serializer()._round_trip(data, 2) is not None) is taken


@pytest.mark.parametrize("data", [case[1] for case in CASES], ids=[case[0] for case in CASES])
def test_an_as_dict_gives_the_walks_result_and_warnings(data, monkeypatch):
    content = {"object": AsDict(data), "reason": "test"}
    assert serialize_content(content) == walked(content, monkeypatch)


def test_a_link_is_taken_by_the_round_trip_and_gives_the_walks_result(monkeypatch):
    link = make_link(1, interdomain=True)
    link.metadata["sdx_nni"] = Name("zaoxi.ac.za:s1:50")
    serializer = Serializer()
    assert serializer._round_trip(link.as_dict(), 2) is not None
    content = {"link": link, "reason": "link down"}
    assert serialize_content(content) == walked(content, monkeypatch)


def test_a_switch_is_taken_by_the_round_trip_and_gives_the_walks_result(monkeypatch):
    """Core's Switch.as_dict() keys its interfaces by InterfaceID, a str subclass, which orjson
    refuses as a key: keyed by their text as the walk keys them, the switch goes through the
    round trip, and the result is the walk's of core's own as_dict()."""
    switch = next(iter(make_topology(4, 8).switches.values()))
    original = switch.as_dict()  # core's own (its speed warnings are not the NApp's)
    assert {type(key) for key in original["interfaces"]} != {str}
    data = serialize._switch_dict(switch)
    assert {type(key) for key in data["interfaces"]} == {str}
    assert Serializer()._round_trip(data, 2) is not None
    content = {"switch": switch, "reason": "test"}
    assert serialize_content(content) == walked({"switch": AsDict(original), "reason": "test"},
                                                monkeypatch)


class OddIdInterface(Interface):
    """An interface whose id's str() is not its characters (``Renamed``, ``BrokenStr``)."""

    def __init__(self, *args, id_type, **kwargs):
        super().__init__(*args, **kwargs)
        self.id_type = id_type

    @property
    def id(self):
        return self.id_type(f"{self.switch.dpid}:{self.port_number}")


def test_a_switch_whose_interface_ids_have_their_own_str_gives_the_walks_result(monkeypatch):
    """Keys re-keyed as the walk keys them: str(), or the characters when str() raises; two
    ``Renamed`` ids of one text are left to the walk, which keeps both (the later under a
    text of its own, with a warning)."""
    switch = Switch("00:00:00:00:00:00:00:09")
    add_interface(switch, "eth1", 1)
    add_interface(switch, "eth2", 2, OddIdInterface, id_type=Renamed)
    add_interface(switch, "eth3", 3, OddIdInterface, id_type=Renamed)
    add_interface(switch, "eth4", 4, OddIdInterface, id_type=BrokenStr)
    content = {"switch": switch}
    result, warnings = serialize_content(content)
    assert list(result["switch"]["interfaces"]) == ["00:00:00:00:00:00:00:09:1", "renamed",
                                                    "renamed <Renamed key>",
                                                    "00:00:00:00:00:00:00:09:4"]
    assert result["switch"]["interfaces"]["renamed"]["port_number"] == 2
    assert result["switch"]["interfaces"]["renamed <Renamed key>"]["port_number"] == 3
    assert warnings == ["Renamed key 'renamed' has the text of another key of its dict: kept "
                        "as 'renamed <Renamed key>'"]
    assert (result, warnings) == walked({"switch": AsDict(switch.as_dict())}, monkeypatch)


def test_the_result_is_a_copy_of_what_as_dict_returned():
    metadata = {"owner": "a"}
    result, warnings = serialize_content({"object": AsDict({"metadata": metadata})})
    metadata["owner"] = "b"
    metadata["speed"] = math.nan
    assert warnings == [] and result == {"object": {"metadata": {"owner": "a"}}}


def test_what_it_takes_counts_against_the_events_bounds():
    serializer = Serializer()
    data = {"text": "x" * 1000, "items": list(range(100))}
    encoded = orjson.dumps(data)
    assert serializer._round_trip(data, 2) == data
    assert MAX_TEXT - serializer._text_left == len(encoded)  # at least the walk's count
    # Short of budget, the walk goes on and cuts exactly.
    serializer._text_left = len(encoded) - 1
    assert serializer._round_trip(data, 2) is None


def test_an_event_over_its_bounds_is_cut_with_the_round_trip_as_without(monkeypatch):
    # 1,100 as_dict()s of 1,000 characters each: past MAX_TEXT either way.
    content = {"objects": [AsDict({"text": f"{index:04}" + "x" * 996})
                           for index in range(1_100)]}
    result, warnings = serialize_content(content)
    walked_result, walked_warnings = walked(content, monkeypatch)
    # The same cuts, said the same way; where they fall differs a little (the round trip
    # counts an as_dict's JSON, at least what the walk counts).
    assert [re.sub(r"\d+", "N", warning) for warning in warnings] \
        == [re.sub(r"\d+", "N", warning) for warning in walked_warnings]
    assert warnings[0].startswith("content over its bounds")
    kept = [item for item in result["objects"] if isinstance(item, dict)]
    assert 0 < len(kept) <= len([item for item in walked_result["objects"]
                                 if isinstance(item, dict)])
    assert sum(len(item.get("text", "")) for item in kept) <= MAX_TEXT


LEAVES = [None, True, False, 0, -1, 2**63 - 1, 2**64, -(2**63) - 1, 1.25, math.nan, math.inf,
          "", "text", "São", "\ud800", Name("id"), Renamed("r"), Count(3), Ratio(1.0),
          Level.HIGH, Color.RED, Mode.FAST, Shade.DARK, Weight.HEAVY, uuid.UUID(int=1),
          dt.date(2026, 1, 1), b"\xff", (1, "a")]
KEYS = ["a", "b", "São", "", 1, Name("k"), Shade.DARK, "\ud800"]


def random_value(rng, depth):
    if depth > 3 or rng.random() < 0.5:
        return rng.choice(LEAVES)
    if rng.random() < 0.5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_random_as_dicts_give_the_walks_result(monkeypatch):
    rng = random.Random(21)
    taken = 0
    for _ in range(2_000):
        data = {rng.choice(KEYS): random_value(rng, 0) for _ in range(rng.randrange(1, 5))}
        taken += Serializer()._round_trip(data, 2) is not None
        content = {"object": AsDict(data)}
        assert serialize_content(content) == walked(content, monkeypatch), data
    assert 100 < taken < 1_900  # both ways were exercised
