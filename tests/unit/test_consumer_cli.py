"""mq-consumer's choice of queue: --napp and --verbose read the producer's own queues."""

import pytest

from mq_consumer.cli import consumer_options, parse_args
from mq_producer import settings

BOUNDED = {"x-max-length": 100_000, "x-max-length-bytes": 64 * 1024 * 1024}


def test_napp_reads_that_napps_queue_declared_as_the_producer_does():
    options = consumer_options(parse_args(["--napp", "kytos/mef_eline"]))
    assert options.queue == "napp.kytos/mef_eline"
    assert options.bindings == []  # bound by the producer, nothing else of ours
    assert options.queue_arguments == BOUNDED
    assert options.dead_letter == ""  # the producer declares it without a dead-letter exchange


def test_verbose_reads_the_verbose_queue():
    options = consumer_options(parse_args(["--verbose", "--count", "3", "--json"]))
    assert (options.queue, options.bindings, options.queue_arguments, options.dead_letter) == \
        ("verbose", [], BOUNDED, "")


def test_the_queues_follow_the_producer_settings(monkeypatch):
    monkeypatch.setattr(settings, "NAPP_QUEUES", {**settings.NAPP_QUEUES, "prefix": "n:",
                                                  "napps": ["amlight/sdntrace"],
                                                  "arguments": {"x-max-length": 7}})
    monkeypatch.setattr(settings, "VERBOSE_QUEUE", {**settings.VERBOSE_QUEUE, "queue": "all"})
    options = consumer_options(parse_args(["--napp", "amlight/sdntrace"]))
    assert (options.queue, options.queue_arguments) == ("n:amlight/sdntrace",
                                                        {"x-max-length": 7})
    assert consumer_options(parse_args(["--verbose"])).queue == "all"


@pytest.mark.parametrize(("argv", "message"), [
    (["--napp", "kytos/topology", "--bind", "operational_events:#"],
     "--napp goes without --bind and --queue"),
    (["--napp", "kytos/topology", "--queue", "mine"], "--napp goes without --bind and --queue"),
    (["--verbose", "--bind", "operational_events:#"],
     "--verbose goes without --bind and --queue"),
    (["--verbose", "--queue", "mine"], "--verbose goes without --bind and --queue"),
    (["--napp", "kytos/topology", "--verbose"], "--napp and --verbose: give only one of"),
    (["--napp", "kytos/topology", "--link-queue", "L"], "--napp and --link-queue: give only"),
    (["--verbose", "--link-queue", "L"], "--verbose and --link-queue: give only one"),
    (["--link-queue", "L", "--queue", "q"], "--link-queue goes without --bind and --queue"),
    (["--napp", "kytos/pathfinder"],
     r"'kytos/pathfinder' has no queue of its own .* its events are in the verbose queue"),
])
def test_conflicting_or_unknown_choices_are_clear_errors(argv, message):
    with pytest.raises(ValueError, match=message):
        consumer_options(parse_args(argv))


def test_disabled_producer_queues_are_clear_errors(monkeypatch):
    monkeypatch.setattr(settings, "NAPP_QUEUES", {"enabled": False})
    monkeypatch.setattr(settings, "VERBOSE_QUEUE", {"enabled": False})
    with pytest.raises(ValueError, match="NAPP_QUEUES is disabled"):
        consumer_options(parse_args(["--napp", "kytos/topology"]))
    with pytest.raises(ValueError, match="VERBOSE_QUEUE is disabled"):
        consumer_options(parse_args(["--verbose"]))


def test_a_bad_producer_setting_names_it(monkeypatch):
    monkeypatch.setattr(settings, "NAPP_QUEUES", {**settings.NAPP_QUEUES, "prefix": "amq."})
    with pytest.raises(ValueError, match=r"NAPP_QUEUES\.prefix"):
        consumer_options(parse_args(["--napp", "kytos/topology"]))


def test_the_other_choices_are_unchanged():
    default = consumer_options(parse_args([]))
    assert [f"{b.exchange}:{b.pattern}" for b in default.bindings] == [
        "admin_events:#", "operational_events:#", "other_events:#"]
    assert (default.queue, default.dead_letter) == ("", settings.DEAD_LETTER)
    link = consumer_options(parse_args(["--link-queue", "L"]))
    assert (link.queue, link.bindings) == ("interdomain_link.L", [])
    assert link.queue_arguments["x-dead-letter-exchange"] == settings.DEAD_LETTER


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_every_queue_is_declared_with_the_producers_queue_type(monkeypatch, queue_type):
    """mq-consumer declares the producer's queues as the producer does: another type would
    be refused by the broker (PRECONDITION_FAILED) on a cluster with quorum queues."""
    monkeypatch.setattr(settings, "QUEUE_TYPE", queue_type)
    for argv in (["--napp", "kytos/topology"], ["--verbose"], ["--link-queue", "L"],
                 ["--queue", "mine"], []):
        assert consumer_options(parse_args(argv)).queue_type == queue_type, argv
