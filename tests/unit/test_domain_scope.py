"""Many controllers, one broker (issue #17): DOMAIN_SCOPE puts each producer's routing keys
and queues in its domain, so that two domains' messages can be told apart by binding pattern
and their queues never share a name. No broker here (tests/integration/test_cluster.py runs
two domains on a cluster)."""


import pytest

from mq_consumer.cli import consumer_options, parse_args
from mq_producer import settings
from mq_producer.checks import SettingsError
from mq_producer.config import load_config
from mq_producer.envelopes import status_copy, to_messages
from mq_producer.recent import OutcomeLog
from tests.support.settings import settings_with

ENV = {"KYTOS_MQ_URL": "amqp://guest:guest@127.0.0.1/"}
LINK_ID = "4d42dc0852278accac7d9df15418f6d921db160b13d674029a87cef1b5f67f30"


def _settings(**overrides):
    return settings_with(settings, **overrides)


def _link_down(domain: str) -> dict:
    return {"message_id": f"{domain}-1", "event_name": "kytos/topology.link_down",
            "event_class": "operational", "msg_type": "link", "key": f"link:{LINK_ID}",
            "producer": {"domain": domain, "controller": f"kytos-{domain}"},
            "link": {"id": LINK_ID, "status": "DOWN", "metadata": {"interdomain": True}}}


def test_no_scope_by_default_names_and_keys_as_before():
    config = load_config(_settings(), ENV)
    assert config.domain_scope == ""
    assert config.router.route(_link_down("ampath")) == (
        "operational_events", "operational.kytos/topology.link_down")
    assert config.link_status.queue(LINK_ID) == f"interdomain_link.{LINK_ID}"
    assert config.link_status.queues_exchange == "interdomain_link.queues"
    assert "verbose" in {spec.name for spec in config.queues}


def test_a_scope_starts_every_routing_key_and_queue_name_but_not_exchanges():
    config = load_config(_settings(DOMAIN_SCOPE="amlight.net"), ENV)
    assert config.domain_scope == "amlight.net"
    assert config.router.exchanges == ("admin_events", "operational_events", "other_events")
    event, status = to_messages(_link_down("amlight.net"), config.router, config.link_status,
                                0.0, config.max_message_bytes)
    assert (event.exchange, event.routing_key) == (
        "operational_events", "amlight.net.operational.kytos/topology.link_down")
    assert (status.exchange, status.routing_key) == ("interdomain_links",
                                                     f"amlight.net.{LINK_ID}")
    assert status.copy_key == f"amlight.net.{LINK_ID}"
    assert status_copy(status, 0.0).routing_key == f"amlight.net.{LINK_ID}"
    link_status = config.link_status
    assert link_status.queue(LINK_ID) == f"amlight.net.interdomain_link.{LINK_ID}"
    assert link_status.queues_exchange == "amlight.net.interdomain_link.queues"
    assert link_status.is_status_queue(f"amlight.net.interdomain_link.{LINK_ID}")
    assert not link_status.is_status_queue(f"interdomain_link.{LINK_ID}")
    specs = {(spec.name, spec.exchange, spec.binding) for spec in config.queues}
    assert ("amlight.net.kytos/topology_link_down", "operational_events",
            "amlight.net.operational.kytos/topology.link_down") in specs
    assert ("amlight.net.napp.kytos/mef_eline", "admin_events",
            "amlight.net.*.kytos/mef_eline.#") in specs
    assert ("amlight.net.verbose", "other_events", "amlight.net.#") in specs
    assert all(name.startswith("amlight.net.") for name, _, _ in specs)
    assert config.dead_letter == settings.DEAD_LETTER  # shared by the domains


def test_an_empty_copy_key_is_the_bare_domain_as_sdx_lc_binds():
    link_status = {**settings.LINK_STATUS, "copy_routing_key": ""}
    config = load_config(_settings(DOMAIN_SCOPE="amlight.net", LINK_STATUS=link_status), ENV)
    _, status = to_messages(_link_down("amlight.net"), config.router, config.link_status, 0.0,
                            config.max_message_bytes)
    assert status.copy_key == "amlight.net"


def test_two_domains_never_share_a_queue_even_for_the_same_link_id():
    ampath = load_config(_settings(DOMAIN_SCOPE="ampath"), ENV)
    sax = load_config(_settings(DOMAIN_SCOPE="sax"), ENV)
    assert not {spec.name for spec in ampath.queues} & {spec.name for spec in sax.queues}
    assert ampath.link_status.queue(LINK_ID) != sax.link_status.queue(LINK_ID)
    assert ampath.link_status.queues_exchange != sax.link_status.queues_exchange


def test_the_environment_variable_wins_and_may_turn_the_scope_off():
    with_setting = _settings(DOMAIN_SCOPE="ampath")
    assert load_config(with_setting, {**ENV, "KYTOS_MQ_DOMAIN_SCOPE": "sax"}).domain_scope \
        == "sax"
    assert load_config(with_setting, {**ENV, "KYTOS_MQ_DOMAIN_SCOPE": ""}).domain_scope == ""
    config = load_config(_settings(), {**ENV, "KYTOS_MQ_DOMAIN_SCOPE": " tenet "})
    assert config.router.route(_link_down("tenet"))[1].startswith("tenet.operational.")


@pytest.mark.parametrize("scope", ["a..b", ".ampath", "ampath.", "amp#", "am*", "a b",
                                   "amq.x", "x" * 101, 5, None])
def test_a_bad_scope_names_the_setting(scope):
    with pytest.raises(SettingsError, match=r"^DOMAIN_SCOPE: expected a domain"):
        load_config(_settings(DOMAIN_SCOPE=scope), ENV)


def test_a_bad_scope_in_the_environment_names_the_variable():
    with pytest.raises(SettingsError, match=r"^KYTOS_MQ_DOMAIN_SCOPE: expected a domain"):
        load_config(_settings(), {**ENV, "KYTOS_MQ_DOMAIN_SCOPE": "a.#"})


def test_a_link_id_too_long_with_the_scope_is_refused():
    long_id = "L" * (255 - len("interdomain_link."))
    link_status = {**settings.LINK_STATUS, "link_ids": [long_id]}
    load_config(_settings(LINK_STATUS=link_status), ENV)  # fits without a scope
    with pytest.raises(SettingsError, match="over the 255-byte limit"):
        load_config(_settings(LINK_STATUS=link_status, DOMAIN_SCOPE="ampath"), ENV)


def test_status_queue_counts_are_kept_under_the_scoped_name():
    config = load_config(_settings(DOMAIN_SCOPE="ampath"), ENV)
    _, status = to_messages(_link_down("ampath"), config.router, config.link_status, 0.0,
                            config.max_message_bytes)
    outcomes = OutcomeLog(config)
    outcomes.record(status, "confirmed")
    assert outcomes.queue_counts(f"ampath.interdomain_link.{LINK_ID}")["confirmed"] == 1
    assert outcomes.queue_counts("ampath.interdomain_link.other") is not None
    assert outcomes.queue_counts(f"interdomain_link.{LINK_ID}") is None


def test_mq_consumer_domain_binds_and_reads_that_domains_queues():
    scoped = consumer_options(parse_args(["--domain", "amlight.net"]))
    assert [f"{b.exchange}:{b.pattern}" for b in scoped.bindings] == [
        "admin_events:amlight.net.#", "operational_events:amlight.net.#",
        "other_events:amlight.net.#"]
    given = consumer_options(parse_args(["--domain", "ampath", "--bind", "admin_events:#"]))
    assert [f"{b.exchange}:{b.pattern}" for b in given.bindings] == ["admin_events:#"]
    assert consumer_options(parse_args(["--domain", "ampath", "--verbose"])).queue \
        == "ampath.verbose"
    assert consumer_options(parse_args(["--domain", "ampath", "--napp", "kytos/topology"])
                            ).queue == "ampath.napp.kytos/topology"
    assert consumer_options(parse_args(["--domain", "ampath", "--link-queue", "L"])).queue \
        == "ampath.interdomain_link.L"


def test_mq_consumer_refuses_a_bad_domain():
    with pytest.raises(SettingsError, match=r"^--domain: expected a domain"):
        consumer_options(parse_args(["--domain", "amp#"]))
