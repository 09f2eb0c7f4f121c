"""The outage alarm's state as v1/status shows it (openapi.yml): since when (Unix time), why,
and for how long so far - for an outage and for a broker that blocks publishing."""

import time

from mq_producer.alarm import OutageAlarm


def test_outage_and_blocked_say_since_when_why_and_for_how_long():
    now = [100.0]
    alarm = OutageAlarm(reminder_interval=60.0, clock=lambda: now[0])
    assert alarm.as_dict() == {"outage": None, "blocked": None, "last_alarm": None}

    began = time.time()
    alarm.failure("connection refused", buffered=3, dropped=0)
    now[0] += 12.5
    alarm.failure("connection refused again", buffered=4, dropped=0)  # the reason follows
    outage = alarm.as_dict()["outage"]
    assert began <= outage["since"] <= time.time()
    assert (outage["reason"], outage["duration"]) == ("connection refused again", 12.5)
    alarm.recovered(buffered=0, dropped=0)
    assert alarm.as_dict()["outage"] is None

    began = time.time()
    alarm.block("low on memory", buffered=1, dropped=0)
    now[0] += 3.25
    blocked = alarm.as_dict()["blocked"]
    assert began <= blocked["since"] <= time.time()
    assert (blocked["reason"], blocked["duration"]) == ("low on memory", 3.25)
    alarm.unblock(buffered=0, dropped=0)
    state = alarm.as_dict()
    assert (state["outage"], state["blocked"]) == (None, None)
    assert state["last_alarm"].startswith("broker blocked publishing: low on memory")


def test_the_alarm_lines_count_one_message_in_the_singular(caplog):
    """An operator reads '1 message buffered', not '1 messages buffered'; any other count keeps
    the plural, and the lines keep their shape for whoever parses them."""
    now = [0.0]
    alarm = OutageAlarm(reminder_interval=60.0, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="kytos.napps.kytos/mq_producer"):
        for buffered in (1, 2):
            alarm.failure("connection refused", buffered=buffered, dropped=0)
            alarm.recovered(buffered=buffered, dropped=0)
            alarm.block("low on memory", buffered=buffered, dropped=0)
            alarm.unblock(buffered=buffered, dropped=0)
        alarm.failure("connection refused", buffered=0, dropped=0)
    lines = [record.getMessage() for record in caplog.records]
    assert [line.split(";")[1].strip() for line in lines] == [
        "1 message buffered", "1 buffered message to deliver, 0 dropped during the outage",
        "1 message buffered", "1 buffered message to deliver, 0 dropped meanwhile",
        "2 messages buffered", "2 buffered messages to deliver, 0 dropped during the outage",
        "2 messages buffered", "2 buffered messages to deliver, 0 dropped meanwhile",
        "0 messages buffered"]


def test_a_broker_that_refuses_the_publishes_is_not_called_unreachable(caplog):
    """The broker answers, refusing the publishes (write permission revoked, the exchange
    deleted): the alarm, its reminders and its end say so, so that the operator looks at the
    broker's permissions and exchanges, not the network. Each line follows its failure's
    kind: an outage that begins as a lost connection and goes on as refusals says both."""
    now = [0.0]
    alarm = OutageAlarm(reminder_interval=10.0, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="kytos.napps.kytos/mq_producer"):
        alarm.failure("connection lost", buffered=1, dropped=0)
        now[0] += 10
        alarm.failure("ACCESS_REFUSED", buffered=2, dropped=0, refused=True)
        alarm.recovered(buffered=0, dropped=0)
        alarm.failure("NOT_FOUND - no exchange", buffered=3, dropped=0, refused=True)
        now[0] += 10
        alarm.failure("connection refused", buffered=4, dropped=0)
        alarm.recovered(buffered=0, dropped=0)
    assert [record.getMessage().split(";")[0] for record in caplog.records] == [
        "mq_producer ALARM: broker unreachable: connection lost",
        "mq_producer ALARM: broker still refuses publishing after 10s: ACCESS_REFUSED",
        "mq_producer: broker takes publishes again after 10.0s outage",
        "mq_producer ALARM: broker refuses publishing: NOT_FOUND - no exchange",
        "mq_producer ALARM: broker still unreachable after 10s: connection refused",
        "mq_producer: broker reachable again after 10.0s outage"]
