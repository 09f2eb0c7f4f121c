import pytest

from mq_producer import settings
from mq_producer.routing import (
    MAX_CACHED_ROUTES,
    Route,
    Router,
    RoutingError,
    event_napp,
    template_fields,
)


def _envelope(name, event_class, link_id=None, key=None):
    return {"event_name": name, "event_class": event_class, "msg_type": "event",
            "producer": {"controller": "c1", "domain": "ampath.net"},
            "link": {"id": link_id} if link_id else None, "key": key}


DEFAULT = Router([Route.from_setting(i, r) for i, r in enumerate(settings.ROUTES)])


@pytest.mark.parametrize(("name", "event_class", "exchange", "routing_key"), [
    ("kytos/topology.switch.enabled", "administrative", "admin_events",
     "administrative.kytos/topology.switch.enabled"),
    ("version/control.initialize", "administrative", "admin_events",
     "administrative.version/control.initialize"),
    ("kytos/topology.link_down", "operational", "operational_events",
     "operational.kytos/topology.link_down"),
    ("kytos/topology.updated", "custom", "other_events", "custom.kytos/topology.updated"),
])
def test_default_routes_follow_the_seed(name, event_class, exchange, routing_key):
    assert DEFAULT.route(_envelope(name, event_class)) == (exchange, routing_key)
    assert DEFAULT.exchanges == ("admin_events", "operational_events", "other_events")


def test_per_link_template_and_event_regex():
    router = Router([
        Route.from_setting(0, {"events": r"kytos/topology\.link_(up|down)",
                               "exchange": "links", "routing_key": "link.{link_id}.{domain}"}),
        Route.from_setting(1, {"exchange": "rest", "routing_key": "{dpid}"}),
    ])
    assert router.route(_envelope("kytos/topology.link_up", "operational", "ab12")) == \
        ("links", "link.ab12.ampath.net")
    assert router.route(_envelope("kytos/topology.switch.enabled", "administrative",
                                  key="switch:00:01")) == ("rest", "00:01")
    assert router.route(_envelope("kytos/topology.link_upX", "x")) == ("rest", "none")


def test_keys_kept_per_event_are_only_those_of_templates_of_the_event_alone():
    """Router.route keeps the keys of templates of event name and class per event (a burst's
    envelope is routed by one lookup); a template with per-message fields renders each time."""
    router = Router([
        Route.from_setting(0, {"events": r"kytos/topology\.link_up", "exchange": "links",
                               "routing_key": "{event_class}.{link_id}"}),
        Route.from_setting(1, {"exchange": "rest", "routing_key": "{event_class}.{event_name}"}),
    ])
    for _ in range(2):  # the second time from what the first kept
        for link_id in ("ab12", "cd34"):
            assert router.route(_envelope("kytos/topology.link_up", "operational", link_id)) \
                == ("links", f"operational.{link_id}")
        assert router.route(_envelope("kytos/topology.link_down", "operational", "ab12")) \
            == ("rest", "operational.kytos/topology.link_down")
        assert router.route(_envelope("kytos/topology.link_down", "other")) \
            == ("rest", "other.kytos/topology.link_down")


def test_the_keys_kept_per_event_are_bounded():
    router = Router([Route.from_setting(0, {"exchange": "e", "routing_key": "{event_name}"})])
    names = [f"kytos/x.e{index}" for index in range(MAX_CACHED_ROUTES + 10)]
    for name in names + names[:5]:
        assert router.route(_envelope(name, "a")) == ("e", name)
    assert len(router._per_event) <= MAX_CACHED_ROUTES


def test_no_matching_route_is_an_error():
    router = Router([Route.from_setting(0, {"event_class": "a", "exchange": "e",
                                            "routing_key": "k"})])
    with pytest.raises(RoutingError, match="no route for event"):
        router.route(_envelope("n", "b"))


def test_overlong_routing_key_is_an_error():
    router = Router([Route.from_setting(0, {"exchange": "e", "routing_key": "{event_name}"})])
    with pytest.raises(RoutingError, match="longer than 255 bytes"):
        router.route(_envelope("x" * 300, "a"))


@pytest.mark.parametrize(("setting", "message"), [
    ({"exchange": "e", "routing_key": "{nope}"}, r"ROUTES\[0\]\.routing_key: unknown fields"),
    ({"exchange": "e", "routing_key": "{event_name"}, r"ROUTES\[0\]\.routing_key: malformed"),
    ({"exchange": "amq.topic", "routing_key": "k"}, r"ROUTES\[0\]\.exchange"),
    ({"exchange": "", "routing_key": "k"}, r"ROUTES\[0\]\.exchange"),
    ({"exchange": "e"}, r"ROUTES\[0\]\.routing_key: expected a template"),
    ({"exchange": "e", "routing_key": "k", "events": "("}, r"ROUTES\[0\]\.events: invalid"),
    ({"exchange": "e", "routing_key": "k", "queue": "q"}, r"ROUTES\[0\]: unknown keys"),
])
def test_bad_routes_name_the_setting(setting, message):
    with pytest.raises(RoutingError, match=message):
        Route.from_setting(0, setting)


@pytest.mark.parametrize(("name", "napp"), [
    ("kytos/topology.link_down", "kytos/topology"),
    ("kytos/topology.switch.enabled", "kytos/topology"),
    ("version/control.initialize", "version/control"),
    ("kytos/of_core.switch.interface.link_down", "kytos/of_core"),
    ("kytos/mef_eline.created", "kytos/mef_eline"),
    ("kytos/flow_manager.flow.added", "kytos/flow_manager"),
    ("no_dot", "no_dot"),
])
def test_napp_is_the_event_name_up_to_its_first_dot(name, napp):
    assert event_napp(name) == napp
    assert template_fields(_envelope(name, "operational"))["napp"] == napp
    # with the default routing keys the NApp is the second topic word
    _, routing_key = DEFAULT.route(_envelope(name, "operational"))
    assert routing_key.split(".")[1] == napp


def test_napp_comes_from_the_envelope_when_it_has_one():
    envelope = {**_envelope("kytos/topology.link_down", "operational"), "napp": "amlight/x"}
    assert template_fields(envelope)["napp"] == "amlight/x"
    empty = {**_envelope("kytos/topology.link_down", "operational"), "napp": None}
    assert template_fields(empty)["napp"] == "kytos/topology"
    router = Router([Route.from_setting(0, {"exchange": "e",
                                            "routing_key": "{napp}.{event_class}"})])
    assert router.route(envelope) == ("e", "amlight/x.operational")
