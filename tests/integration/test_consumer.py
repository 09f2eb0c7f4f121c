"""mq_consumer against the broker of KYTOS_MQ_URL: one message at a time in delivery order,
``mq-consumer --count N`` prints N and leaves the rest in the queue, a queue or binding the
broker refuses is one clear line, and an invalid message's log line is honest and safe."""

import asyncio
import datetime as dt
import logging
import random
import subprocess
import sys
import time

import aio_pika
import orjson
import pytest

from listen_events.envelope import Envelope, EnvelopeBuilder
from mq_consumer.consumer import Binding, ConsumerOptions, EventConsumer
from mq_producer.config import load_config
from mq_producer.publisher import Publisher
from mq_producer.transports.amqp.broker import broker_from_env
from mq_producer.transports.factory import make_transport
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

LINK_ID = "7a1c" * 16


def _envelopes(count: int) -> list[dict]:
    """``count`` link_down / link_up envelopes of one link, in order (one key)."""
    builder = EnvelopeBuilder("test", "")
    now = dt.datetime.now(dt.UTC)
    return [builder.build(event_name=f"kytos/topology.link_{'down' if n % 2 else 'up'}",
                          event_class="operational", event_id=n, event_timestamp=now,
                          content={"link": {"id": LINK_ID}})
            for n in range(count)]


async def _exchange(amqp, exchange_prefix: str) -> aio_pika.abc.AbstractExchange:
    return await amqp.declare_exchange(f"{exchange_prefix}.operational_events",
                                       aio_pika.ExchangeType.TOPIC, durable=True)


async def _publish(exchange, envelopes: list[dict]) -> None:
    for envelope in envelopes:
        await exchange.publish(aio_pika.Message(orjson.dumps(envelope),
                                                message_id=envelope["message_id"]), "k")


@pytest.mark.parametrize("one_at_a_time", [True, False], ids=["as-built", "control"])
async def test_the_handler_takes_one_message_at_a_time_in_delivery_order(
        amqp, broker_url, exchange_prefix, cleanup_exchanges, one_at_a_time, monkeypatch):
    """A handler whose time varies (as a real one's does) must still see one link's events in
    order. Control: each delivery's handler let in at once (aio-pika runs each in a task of
    its own) finishes them out of order."""
    exchange = await _exchange(amqp, exchange_prefix)
    queue = f"{exchange_prefix}.ordered"
    cleanup_exchanges.add(queue)
    sent = _envelopes(30)
    handled: list[str] = []
    running = [0, 0]  # now, most at once
    delays = random.Random(7)

    async def handle(envelope: Envelope) -> None:
        running[0] += 1
        running[1] = max(running)
        await asyncio.sleep(delays.uniform(0, 0.02))
        handled.append(envelope.message_id)
        running[0] -= 1

    consumer = EventConsumer(broker_from_env({"KYTOS_MQ_URL": broker_url}), ConsumerOptions(
        bindings=[Binding(exchange.name, "#")], queue=queue, dead_letter=""), handle)
    if not one_at_a_time:
        monkeypatch.setattr(consumer, "_one_at_a_time", _NoLock())
    await consumer.start()
    try:
        await _publish(exchange, sent)
        await wait_until(lambda: len(handled) == len(sent), 15, "every message handled")
    finally:
        await consumer.close()
    in_order = handled == [envelope["message_id"] for envelope in sent]
    assert (in_order, running[1] == 1) == (one_at_a_time, one_at_a_time), (handled, running)


class _NoLock:
    """The control's stand-in for the consumer's lock: lets everyone in."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_exc: object) -> None:
        return None


async def _queue_depth(amqp, name: str) -> int:
    declared = await amqp.declare_queue(name, passive=True)
    return declared.declaration_result.message_count


def _cli(broker_url: str, prefix: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``mq-consumer *argv`` in a process of its own, with the test's dead-letter exchange
    and queue (``<prefix>.dead``) in place of mq_producer's DEAD_LETTER."""
    run = ("import sys; from mq_producer import settings; "
           f"settings.DEAD_LETTER = {prefix + '.dead'!r}; "
           "from mq_consumer.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", run, *argv], text=True,
                          capture_output=True, timeout=60,
                          env={"KYTOS_MQ_URL": broker_url, "PATH": "/usr/bin:/bin"})


async def test_count_prints_that_many_and_leaves_the_rest_in_the_queue(
        amqp, broker_url, exchange_prefix, cleanup_exchanges):
    """20 events wait in a durable queue: --count 2 prints two, in order, and acks exactly
    those; the 18 others are there for the next reader, who gets the third one next."""
    exchange = await _exchange(amqp, exchange_prefix)
    queue = f"{exchange_prefix}.counted"
    cleanup_exchanges.update({queue, f"{exchange_prefix}.dead"})
    argv = ("--queue", queue, "--bind", f"{exchange.name}:#", "--json")
    # As mq-consumer declares it (a named queue dead-letters)
    declared = await amqp.declare_queue(queue, durable=True, arguments={
        "x-dead-letter-exchange": f"{exchange_prefix}.dead"})
    await declared.bind(exchange, "#")
    sent = _envelopes(20)
    await _publish(exchange, sent)
    first = await asyncio.to_thread(_cli, broker_url, exchange_prefix, *argv, "--count", "2")
    assert first.returncode == 0, first.stderr
    printed = [orjson.loads(line)["message_id"] for line in first.stdout.splitlines()]
    assert printed == [sent[0]["message_id"], sent[1]["message_id"]]
    assert await _queue_depth(amqp, queue) == 18
    second = await asyncio.to_thread(_cli, broker_url, exchange_prefix, *argv, "--count", "1")
    assert [orjson.loads(line)["message_id"] for line in second.stdout.splitlines()] == \
        [sent[2]["message_id"]]
    assert await _queue_depth(amqp, queue) == 17


@pytest.mark.parametrize("argv", [("--queue", "amq.refused"),
                                  ("--bind", "{prefix}.dead:#", "--queue", "{prefix}.q2")],
                         ids=["reserved-queue-name", "fanout-declared-as-topic"])
async def test_a_queue_or_binding_the_broker_refuses_is_one_clear_line(
        amqp, broker_url, exchange_prefix, cleanup_exchanges, argv):
    await amqp.declare_exchange(f"{exchange_prefix}.dead", aio_pika.ExchangeType.FANOUT,
                                durable=True)
    cleanup_exchanges.update({f"{exchange_prefix}.q2", f"{exchange_prefix}.dead"})
    argv = [part.format(prefix=exchange_prefix) for part in argv]
    if "--bind" not in argv:
        argv += ["--bind", f"{exchange_prefix}.operational_events:#"]
    result = await asyncio.to_thread(_cli, broker_url, exchange_prefix, *argv, "--count", "1")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("mq-consumer: ")]
    assert len(errors) == 1 and "refused the queue, an exchange or a binding" in errors[0], \
        result.stderr
    assert "ACCESS_REFUSED" in errors[0] or "PRECONDITION_FAILED" in errors[0], errors[0]
    for noise in ("Traceback", "Task was destroyed", "Event loop is closed", "guest:guest"):
        assert noise not in result.stderr, result.stderr


async def test_a_name_the_client_cannot_encode_is_one_clear_line(
        broker_url, exchange_prefix, cleanup_exchanges):
    """An SDX NNI id with a parenthesis: RabbitMQ would take the queue name, aiormq's encoder
    (pamqp) does not; it was reported as the broker's refusal."""
    cleanup_exchanges.add(f"{exchange_prefix}.dead")  # the CLI's dead-letter queue, declared first
    result = await asyncio.to_thread(_cli, broker_url, exchange_prefix, "--link-queue",
                                     "urn:sdx:port:ufrgs.br:Sao_Paulo:eth(1)", "--count", "1")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("mq-consumer: ")]
    assert errors == ["mq-consumer: the AMQP client cannot name a queue, an exchange or a "
                      "binding so (Invalid value for queue): it takes letters, digits, space "
                      "and - _ . : @ # , / + in a name"], result.stderr
    assert "Traceback" not in result.stderr


async def test_an_invalid_message_is_logged_honestly_and_safely(
        amqp, broker_url, exchange_prefix, cleanup_exchanges, caplog):
    """On a private queue (no dead-letter exchange) the line says the message is dropped; a
    field name the message chose cannot forge a log line nor fill the log."""
    exchange = await _exchange(amqp, exchange_prefix)
    handled: list[str] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope.message_id)

    valid = _envelopes(1)[0]
    consumer = EventConsumer(broker_from_env({"KYTOS_MQ_URL": broker_url}), ConsumerOptions(
        bindings=[Binding(exchange.name, "#")]), handle)
    await consumer.start()
    try:
        with caplog.at_level(logging.ERROR, logger="mq_consumer"):
            for extra in ("x\nINFO mq_consumer: consuming queue FAKE", "y" * 2_000_000):
                await exchange.publish(aio_pika.Message(orjson.dumps({**valid, extra: 1}),
                                                        message_id="bad\nid"), "k")
            await _publish(exchange, [valid])
            await wait_until(lambda: handled, 15, "the valid message handled")
    finally:
        await consumer.close()
    lines = [record.getMessage() for record in caplog.records
             if "invalid message" in record.getMessage()]
    assert len(lines) == 2 and handled == [valid["message_id"]]
    for line in lines:
        assert line.startswith("mq_consumer: dropping (the queue has no dead-letter exchange) "
                               "invalid message 'bad\\nid'"), line
        assert "\n" not in line and len(line) < 1000, line[:300]
    assert "x\\nINFO mq_consumer" in lines[0]


# (The user is scrubbed too here: guest's password is its name.)
VHOST_REASON = ("the broker closed the connection at Connection.Open: the vhost 'no-such-vhost' "
                "does not exist, or the user '***' has no access to it")


async def test_a_vhost_the_broker_does_not_have_is_named_as_the_reason(
        broker_url, exchange_prefix, producer_settings):
    """A vhost that is not there (a typo in KYTOS_MQ_URL's path): the consumer's one line and
    the producer's alarm say so, where aiormq's own text was 'Expected one of
    ['Connection.OpenOk'], got <Connection.Close object at 0x...>'."""
    url = broker_url.rstrip("/") + "/no-such-vhost"
    result = await asyncio.to_thread(_cli, url, exchange_prefix, "--count", "1")
    assert result.returncode == 1
    assert result.stderr.strip().endswith(VHOST_REASON + " (the vhost is the URL's path: '/' "
                                          "is %2F)"), result.stderr
    environ = {"KYTOS_MQ_URL": url}
    config = load_config(producer_settings, environ)
    publisher = Publisher(make_transport(config, environ, settings=producer_settings), config)
    publisher.start()
    try:
        await wait_until(lambda: publisher.alarm.outage is not None, 15, "the alarm")
        assert VHOST_REASON in publisher.alarm.outage.reason, publisher.alarm.outage.reason
    finally:
        await publisher.stop(flush_timeout=0)


async def test_close_waits_for_a_stuck_handler_no_longer_than_it_is_told(
        amqp, broker_url, exchange_prefix, cleanup_exchanges):
    """A handler that never returns: close() gives it handler_timeout, then closes, and the
    message goes back to its queue for the next consumer (not acked, not lost)."""
    exchange = await _exchange(amqp, exchange_prefix)
    queue = f"{exchange_prefix}.stuck"
    cleanup_exchanges.add(queue)
    started = asyncio.Event()

    async def handle(_envelope: Envelope) -> None:
        started.set()
        await asyncio.sleep(3600)

    consumer = EventConsumer(broker_from_env({"KYTOS_MQ_URL": broker_url}), ConsumerOptions(
        bindings=[Binding(exchange.name, "#")], queue=queue, dead_letter=""), handle)
    await consumer.start()
    await _publish(exchange, _envelopes(1))
    await asyncio.wait_for(started.wait(), 15)
    closing = time.monotonic()
    await asyncio.wait_for(consumer.close(handler_timeout=0.3), 10)
    assert 0.3 <= time.monotonic() - closing < 5
    for _ in range(50):  # the broker requeues it once it sees the connection closed
        if await _queue_depth(amqp, queue) == 1:
            break
        await asyncio.sleep(0.1)
    assert await _queue_depth(amqp, queue) == 1


@pytest.mark.parametrize("there", [False, True], ids=["mistyped", "control"])
async def test_a_queue_or_exchange_the_consumer_had_to_create_is_warned_about(
        amqp, broker_url, exchange_prefix, cleanup_exchanges, caplog, there):
    """A link queue or a bound exchange that is not on the broker (a mistyped id or name)
    is declared all the same - SDX-LC may start before the producer - but a WARNING says so,
    where the consumer used to wait in silence. Control: both there, no warning."""
    queue, exchange = f"{exchange_prefix}.link.no-such-link", f"{exchange_prefix}.no_such_x"
    cleanup_exchanges.update({queue, exchange})
    if there:
        await amqp.declare_queue(queue, durable=True)
        await amqp.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    consumer = EventConsumer(broker_from_env({"KYTOS_MQ_URL": broker_url}), ConsumerOptions(
        bindings=[Binding(exchange, "#")], queue=queue, dead_letter="",
        new_queue_note="check the link id"), _ignore)
    try:
        with caplog.at_level(logging.WARNING, logger="mq_consumer"):
            await consumer.start()
            await consumer.close()
    finally:
        await amqp.exchange_delete(exchange)
    lines = [record.getMessage() for record in caplog.records
             if "was not on the broker" in record.getMessage()]
    assert lines == ([] if there else [
        f"mq_consumer: queue {queue!r} was not on the broker: declared it, empty. check the "
        "link id",
        f"mq_consumer: exchange {exchange!r} was not on the broker: declared it (topic, "
        "durable); nothing reaches it until a producer publishes there - mq_producer declares "
        "its exchanges (ROUTES, LINK_STATUS) when it starts: if it has, check the name"])
    assert (await amqp.declare_queue(queue, passive=True)).name == queue  # declared all the same


async def _ignore(_envelope: Envelope) -> None:
    return None
