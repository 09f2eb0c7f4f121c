"""Issue 21: serializing Kytos objects must not make core log.

Core's Interface.speed logs WARNING "Couldn't get port N speed ..." on "kytos.core.interface"
when a port has no features and no custom speed (kytos-ng 2025.2.1, interface.py:656-692), and
Interface/Link/Switch.as_dict() read it. The double does the same; these tests check that the
serializer gives as_dict()'s dict, field for field and in order, without a WARNING from anyone.
"""

import json
import logging

import pytest
from kytos.core.interface import Interface
from kytos.core.link import Link
from kytos.core.switch import Switch

from listen_events.serialize import quiet_speed, serialize_content
from tests.support.topology import add_interface, make_link, make_topology

OFPPF_1GB_FD = 1 << 5
OFPPF_40GB_FD = 1 << 7  # an OpenFlow 1.3 bit: counts only when the switch speaks 1.3


def _loud(obj, caplog):
    """obj.as_dict() - which the double, like core, makes log - and the records it logged."""
    caplog.clear()
    data = obj.as_dict()
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    caplog.clear()
    return data, records


def _serialized_quietly(content, caplog):
    caplog.clear()
    serialized, warnings = serialize_content(content)
    assert warnings == []
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records
            if r.levelno >= logging.WARNING] == []
    return serialized


def _same(serialized, expected):
    """Equal values, same fields in the same order (as JSON text, which keeps key order)."""
    assert json.dumps(serialized) == json.dumps(expected)


@pytest.fixture(autouse=True)
def _warnings_from_every_logger(caplog):
    caplog.set_level(logging.WARNING)  # the root: every logger without a level of its own


def test_link_whose_endpoints_lack_features_serializes_without_core_warnings(caplog):
    link = make_link(1)
    expected, records = _loud(link, caplog)
    # The test means something: as_dict() itself logs, twice, as core does for such a link.
    assert [(r.name, r.levelname) for r in records] == [("kytos.core.interface", "WARNING")] * 2
    assert all(r.getMessage().startswith("Couldn't get port") for r in records)

    serialized = _serialized_quietly({"link": link, "reason": "link down"}, caplog)

    _same(serialized["link"], expected)
    assert serialized["link"]["endpoint_a"]["speed"] is None
    assert serialized["link"]["endpoint_b"]["speed"] is None
    assert list(serialized["link"]["endpoint_a"]) == [
        "id", "name", "port_number", "mac", "switch", "type", "nni", "uni", "speed",
        "metadata", "lldp", "active", "enabled", "status", "status_reason", "link"]


def test_switch_whose_interfaces_lack_features_serializes_without_core_warnings(caplog):
    switch = Switch("00:00:00:00:00:00:00:0a")
    add_interface(switch, "vxlan1", 1)
    add_interface(switch, "vxlan2", 2)
    add_interface(switch, "eth3", 3, features=OFPPF_1GB_FD)
    expected, records = _loud(switch, caplog)
    assert len(records) == 2

    serialized = _serialized_quietly({"switch": switch}, caplog)

    _same(serialized["switch"], expected)
    speeds = [iface["speed"] for iface in serialized["switch"]["interfaces"].values()]
    assert speeds == [None, None, 10**9 / 8]


def test_interface_event_and_topology_serialize_without_core_warnings(caplog):
    link = make_link(2)
    expected, _ = _loud(link.endpoint_a, caplog)
    serialized = _serialized_quietly({"interface": link.endpoint_a, "reason": "x"}, caplog)
    _same(serialized["interface"], expected)

    topology = make_topology(4, 6)  # 12 interfaces without features
    serialized = _serialized_quietly({"topology": topology}, caplog)
    for dpid, switch in topology.switches.items():
        _same(serialized["topology"]["switches"][dpid], _loud(switch, caplog)[0])
    for link_id, link in topology.links.items():
        _same(serialized["topology"]["links"][link_id], _loud(link, caplog)[0])


@pytest.mark.parametrize(("features", "custom", "port", "v0x04", "speed"), [
    (OFPPF_1GB_FD, None, 1, False, 10**9 / 8),          # the port's features
    (OFPPF_1GB_FD, 999, 1, False, 10**9 / 8),           # features win over a custom speed
    (None, 12_500_000_000, 1, False, 12_500_000_000),   # the custom speed
    (OFPPF_40GB_FD, None, 1, True, 40 * 10**9 / 8),     # an OpenFlow 1.3 speed
    (None, None, 0xFFFE, False, 0),                     # OFPP_LOCAL, OpenFlow 1.0
    (None, None, 0xFFFFFFFE, True, 0),                  # OFPP_LOCAL, OpenFlow 1.3
])
def test_a_known_speed_is_kept(caplog, features, custom, port, v0x04, speed):
    switch = Switch("00:00:00:00:00:00:00:0b")
    interface = add_interface(switch, "eth", port, features=features, speed=custom)
    if v0x04:
        interface._is_v0x04 = lambda: True
    expected, records = _loud(interface, caplog)
    assert records == [] and expected["speed"] == speed

    serialized = _serialized_quietly({"interface": interface}, caplog)
    _same(serialized["interface"], expected)


def test_the_40g_bit_without_openflow_13_is_no_speed(caplog):
    interface = add_interface(Switch("00:00:00:00:00:00:00:0c"), "eth", 1,
                              features=OFPPF_40GB_FD)
    assert _loud(interface, caplog)[0]["speed"] is None
    assert _serialized_quietly({"interface": interface}, caplog)["interface"]["speed"] is None


def test_objects_are_left_as_they_were(caplog):
    link = make_link(3)
    before = [(type(obj), dict(vars(obj))) for obj in (link, link.endpoint_a, link.endpoint_b)]
    _serialized_quietly({"link": link}, caplog)
    assert [(type(obj), vars(obj)) for obj in (link, link.endpoint_a, link.endpoint_b)] == before
    assert type(link.endpoint_a).speed is Interface.speed


class _NoFeatures(Interface):
    """An interface not shaped like core's: reading its features raises."""

    def get_of_features_speed(self):
        raise RuntimeError("no features here")


def test_a_speed_that_cannot_be_worked_out_is_none_never_an_error(caplog):
    interface = _NoFeatures("eth", 1, Switch("00:00:00:00:00:00:00:0d"))
    assert quiet_speed(interface) is None
    assert quiet_speed(object()) is None
    serialized = _serialized_quietly({"interface": interface}, caplog)
    assert serialized["interface"]["speed"] is None
    assert serialized["interface"]["id"] == "00:00:00:00:00:00:00:0d:1"


class _OwnWayLink(Link):
    """An as_dict() that a stand-in `self` cannot run: the serializer falls back to it."""

    def as_dict(self):
        return {"own": object.__getattribute__(self, "_id")}


def test_an_as_dict_the_quiet_way_cannot_run_is_still_used(caplog):
    switch = Switch("00:00:00:00:00:00:00:0e")
    link = _OwnWayLink(add_interface(switch, "a", 1), add_interface(switch, "b", 2))
    content, warnings = serialize_content({"link": link})
    assert warnings == [] and content["link"] == {"own": str(link.id)}
