import pytest

from listen_events.filters import EventFilter
from listen_events.patterns import SettingsError

LINK_RULE = {"events": r"kytos/topology\.link_(up|down)", "path": "link.metadata.interdomain",
             "equals": True}


def test_no_rules_allow_everything():
    event_filter = EventFilter([], [], [])
    assert event_filter.allows_name("kytos/topology.link_up")
    assert event_filter.failed_content_rule("kytos/topology.link_up", {}) is None


def test_allow_and_deny_on_names_deny_wins():
    event_filter = EventFilter([r"kytos/topology\..*"], [r".*\.link_up"], [])
    assert event_filter.allows_name("kytos/topology.link_down")
    assert not event_filter.allows_name("kytos/topology.link_up")
    assert not event_filter.allows_name("version/control.initialize")


def test_content_rule_keeps_only_interdomain_links():
    event_filter = EventFilter([], [], [LINK_RULE])
    interdomain = {"link": {"metadata": {"interdomain": True}}}
    local = {"link": {"metadata": {}}}
    assert event_filter.failed_content_rule("kytos/topology.link_down", interdomain) is None
    rule = event_filter.failed_content_rule("kytos/topology.link_down", local)
    assert rule is not None and "CONTENT_RULES[0]" in rule.describe()
    # Rules apply only to the events they name.
    assert event_filter.failed_content_rule("kytos/topology.switch.enabled", {}) is None


@pytest.mark.parametrize(("rule", "content", "passes"), [
    ({"path": "a.b", "in": [1, 2]}, {"a": {"b": 2}}, True),
    ({"path": "a.b", "in": [1, 2]}, {"a": {"b": 3}}, False),
    ({"path": "a.b", "exists": True}, {"a": {"b": None}}, True),
    ({"path": "a.b", "exists": True}, {"a": "not a dict"}, False),
    ({"path": "a.b", "exists": False}, {"a": {}}, True),
])
def test_content_rule_operators(rule, content, passes):
    event_filter = EventFilter([], [], [rule])
    assert (event_filter.failed_content_rule("any/event", content) is None) is passes


@pytest.mark.parametrize(("allow", "deny", "rules", "message"), [
    (["ok", "[bad"], [], [], r"ALLOW_EVENTS\[1\]: invalid regex"),
    ([], [""], [], r"DENY_EVENTS\[0\]: expected a non-empty regex"),
    ([], [], [{"path": "a", "equals": 1, "in": [1]}], r"CONTENT_RULES\[0\]: give exactly one"),
    ([], [], [{"path": "a..b", "equals": 1}], r"CONTENT_RULES\[0\]\.path"),
    ([], [], [{"path": "a", "exists": "yes"}], r"CONTENT_RULES\[0\]\.exists"),
    ([], [], [{"path": "a", "in": 3}], r"CONTENT_RULES\[0\]\.in"),
    ([], [], [{"path": "a", "equals": 1, "event": "x"}], r"CONTENT_RULES\[0\]: unknown keys"),
    ([], [], [{"events": "(", "path": "a", "equals": 1}], r"CONTENT_RULES\[0\]\.events"),
    ([], [], "not a list", "CONTENT_RULES: expected a list"),
])
def test_bad_filter_settings_name_the_setting(allow, deny, rules, message):
    with pytest.raises(SettingsError, match=message):
        EventFilter(allow, deny, rules)
