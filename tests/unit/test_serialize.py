import datetime as dt
import json
import math
import uuid
from enum import Enum

from listen_events.serialize import MAX_DEPTH, serialize_content
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


def test_scalars_uuid_datetime_enum_bytes():
    event_id = uuid.uuid4()
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=dt.timezone(dt.timedelta(hours=-3)))
    content, warnings = serialize_content({
        "id": event_id, "at": moment, "color": Color.RED, "raw": b"\xffok", "n": 1.5,
        "set": {1}, 7: "int key"})
    assert warnings == []
    assert content == {"id": str(event_id), "at": "2026-01-02T06:04:05.006789+00:00",
                       "color": "red", "raw": "\\xffok", "n": 1.5, "set": [1], "7": "int key"}


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
