"""CONFIRM_READ_LINGER_MS against a real broker (confirm_reads.py): at a steady pace the
confirms are read several at a time, every message still confirmed and delivered; held reads
resume at once when a message waits for its key's confirm, and when a flush at stop waits for
them; a request's reply is read at once even while reads are held; a burst's window is never
held; a lost connection's reader goes with it."""

import asyncio
import gc
import time
import weakref

import aio_pika
import pytest

from mq_producer.outbox import OutboundMessage
from mq_producer.publisher import Publisher
from mq_producer.transports.amqp.confirm_reads import (
    ConfirmLinger,
    LingeringReader,
    confirms_only,
)
from mq_producer.transports.amqp.transport import AmqpTransport
from tests.integration.conftest import bound_queue
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


def message(exchange: str, number: int, key: str | None = None) -> OutboundMessage:
    return OutboundMessage(f"paced-{number}", "kytos/topology.link_down", exchange,
                           "operational.x", b'{"n":%d}' % number, key or f"key:{number}", 1.0)


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """The LingeringReaders made from now on ("made"), each read of confirms only they got
    ("confirm_reads"), and the messages the publisher had in flight each time one began to
    hold reads ("held_at"; set ``seen["publisher"]``)."""
    seen: dict[str, list] = {"made": [], "confirm_reads": [], "held_at": [], "publisher": []}
    made = LingeringReader.connection_made
    received = LingeringReader.data_received

    def connection_made(self, transport):
        seen["made"].append(self)
        made(self, transport)

    def data_received(self, data):
        holding = self.holding
        received(self, data)
        if confirms_only(data):
            seen["confirm_reads"].append(len(data))
        if self.holding and not holding and seen["publisher"]:
            seen["held_at"].append(seen["publisher"][0].outbox.in_flight)

    monkeypatch.setattr(LingeringReader, "connection_made", connection_made)
    monkeypatch.setattr(LingeringReader, "data_received", data_received)
    return seen


def prompt_only_if(wanted: bool, elapsed: float, what: str) -> None:
    """With the publisher's ``answers_wanted()`` call, well inside a one-second hold; without
    it (the control), most of the hold waited out."""
    if wanted:
        assert elapsed < 0.3, f"{what} {elapsed:.2f} s"
    else:
        assert elapsed > 0.7, f"{what} {elapsed:.2f} s"


async def paced(publisher: Publisher, exchange: str, count: int, gap: float) -> None:
    for number in range(count):
        publisher.submit(message(exchange, number), wake=False)
        publisher.publish_now()
        await asyncio.sleep(gap)


async def watched(start_publisher, amqp, exchange_prefix: str, readers: dict[str, list],
                  linger: float) -> tuple[Publisher, str, aio_pika.abc.AbstractQueue]:
    """A publisher whose reads linger ``linger`` seconds and whose holds ``readers`` records
    ("held_at"), its exchange, and a queue bound to all of that exchange."""
    publisher = await start_publisher()
    readers["publisher"].append(publisher)
    publisher.transport.confirm_linger.seconds = linger
    exchange = f"{exchange_prefix}.operational_events"
    return publisher, exchange, await bound_queue(amqp, exchange, "#")


async def one_confirmed(start_publisher, amqp, exchange_prefix: str,
                        linger: float) -> Publisher:
    """A publisher whose reads linger ``linger`` seconds, and one message it published alone
    and got confirmed: its confirm was read alone, so reads are held now."""
    publisher = await start_publisher()
    publisher.transport.confirm_linger.seconds = linger
    exchange = f"{exchange_prefix}.operational_events"
    await bound_queue(amqp, exchange, "#")
    await paced(publisher, exchange, 1, 0)
    await wait_until(lambda: publisher.counters.confirmed == 1, what="confirmed")
    return publisher


@pytest.mark.parametrize("linger_ms", [20, 0], ids=["lingering", "control-0"])
async def test_at_a_steady_pace_confirms_are_read_several_at_a_time_and_none_is_lost(
        linger_ms: int, publish_path: str, start_publisher, amqp, exchange_prefix: str,
        readers: dict[str, list]):
    count = 200
    publisher = await start_publisher()
    publisher.transport.confirm_linger.seconds = linger_ms / 1000
    exchange = f"{exchange_prefix}.operational_events"
    queue = await bound_queue(amqp, exchange, "#")
    await paced(publisher, exchange, count, 0.002)
    await wait_until(lambda: publisher.counters.confirmed == count, timeout=30,
                     what="every message confirmed")
    declared = await amqp.declare_queue(queue.name, passive=True)
    assert declared.declaration_result.message_count == count
    assert len(readers["made"]) == 1  # the producer's one connection
    reads = len(readers["confirm_reads"])
    if linger_ms:
        assert reads < count / 4, f"{reads} reads of confirms for {count} messages"
    else:  # one read for each, or nearly: what the linger saves
        assert reads > count / 2, f"{reads} reads of confirms for {count} messages"


@pytest.mark.parametrize("wanted", [True, False], ids=["as-built", "control-not-wanted"])
async def test_a_message_waiting_for_its_keys_confirm_ends_the_hold_at_once(
        wanted: bool, publish_path: str, start_publisher, amqp, exchange_prefix: str,
        readers: dict[str, list], monkeypatch: pytest.MonkeyPatch):
    """A key's messages go one at a time: the next one waits for its predecessor's confirm,
    which must not wait for the linger - a key's rate would be one message a linger."""
    if not wanted:  # the control: the publisher's call does nothing
        monkeypatch.setattr(AmqpTransport, "answers_wanted", lambda self: None)
    publisher = await one_confirmed(start_publisher, amqp, exchange_prefix, 1.0)
    (reader,) = readers["made"]
    exchange = f"{exchange_prefix}.operational_events"
    started = time.monotonic()
    publisher.submit(message(exchange, 1, "key:same"), wake=False)
    publisher.publish_now()  # in flight; its confirm will come while reads are held
    await wait_until(lambda: publisher.counters.published == 2, what="published")
    await asyncio.sleep(0.05)  # its confirm is in the socket by now, unread
    assert reader.holding and publisher.counters.confirmed == 1
    publisher.submit(message(exchange, 2, "key:same"), wake=False)
    publisher.publish_now()  # waits for message 1's confirm
    await wait_until(lambda: publisher.counters.published == 3, timeout=2,
                     what="the key's second message published")
    prompt_only_if(wanted, time.monotonic() - started, "the key's second message went")


@pytest.mark.parametrize("after_a_wait", [True, False], ids=["as-built", "control-hold-each"])
async def test_a_keys_messages_in_a_row_start_no_hold(
        after_a_wait: bool, publish_path: str, start_publisher, amqp, exchange_prefix: str,
        readers: dict[str, list], monkeypatch: pytest.MonkeyPatch):
    """Each of a key's messages waits for the confirm of the one before: each such confirm
    began a hold that the next message's wait ended at once, a pause and a resume of reading
    per confirm. The read after a wait (``ConfirmLinger.read_now``) starts none."""
    if not after_a_wait:  # the control: read_now resumes held reads, nothing more
        monkeypatch.setattr(ConfirmLinger, "read_now",
                            lambda self: self.reader is not None and self.reader.read_now())
    count = 50
    publisher, exchange, queue = await watched(start_publisher, amqp, exchange_prefix,
                                               readers, 1.0)
    for number in range(count):
        publisher.submit(message(exchange, number, "key:same"), wake=False)
    publisher.publish_now()
    await wait_until(lambda: publisher.counters.confirmed == count, timeout=30,
                     what="the key's messages confirmed")
    declared = await amqp.declare_queue(queue.name, passive=True)
    assert declared.declaration_result.message_count == count
    holds = len(readers["held_at"])
    if after_a_wait:  # the last message's confirm may: nothing waits behind it
        assert holds <= 1, f"{holds} holds for {count} messages of one key"
    else:
        assert holds >= count / 2, f"{holds} holds for {count} messages of one key"


@pytest.mark.parametrize("wanted", [True, False], ids=["as-built", "control-not-wanted"])
async def test_a_flush_at_stop_reads_the_held_confirms_at_once(
        wanted: bool, start_publisher, amqp, exchange_prefix: str, readers: dict[str, list],
        monkeypatch: pytest.MonkeyPatch):
    if not wanted:  # the control: the publisher's call does nothing
        monkeypatch.setattr(AmqpTransport, "answers_wanted", lambda self: None)
    publisher = await one_confirmed(start_publisher, amqp, exchange_prefix, 1.0)
    (reader,) = readers["made"]
    publisher.submit(message(f"{exchange_prefix}.operational_events", 1), wake=False)
    publisher.publish_now()  # its confirm will come while reads are held
    await asyncio.sleep(0.05)
    assert reader.holding and publisher.counters.confirmed == 1
    started = time.monotonic()
    assert await publisher.stop(flush_timeout=5) == 0  # flushed: nothing discarded
    elapsed = time.monotonic() - started
    assert publisher.counters.confirmed == 2
    prompt_only_if(wanted, elapsed, "the flush took")


@pytest.mark.parametrize("read_on_write", [True, False], ids=["as-built", "control-no-resume"])
async def test_a_requests_reply_is_read_at_once_while_reads_are_held(
        read_on_write: bool, start_publisher, amqp, exchange_prefix: str,
        readers: dict[str, list], monkeypatch: pytest.MonkeyPatch):
    if not read_on_write:  # the control: writes do not end the hold
        monkeypatch.setattr(LingeringReader, "wrote", lambda self, data: None)
    publisher = await one_confirmed(start_publisher, amqp, exchange_prefix, 1.0)
    (reader,) = readers["made"]
    assert reader.holding  # its confirm was read alone: reads are held for a second
    started = time.monotonic()
    # Channel.Open, then Queue.Purge of a queue that does not exist (the broker's 404
    # closes that channel): two requests and their replies.
    assert await publisher.transport.purge_status("no-such-link") is None
    elapsed = time.monotonic() - started
    if read_on_write:
        assert elapsed < 0.3, f"the purge's replies took {elapsed:.2f} s"
        assert not reader.holding
    else:
        assert elapsed > 0.5


@pytest.mark.parametrize("few_in_flight", [True, False], ids=["as-built", "control-always"])
async def test_a_burst_window_is_never_held(few_in_flight: bool, start_publisher, amqp,
                                            exchange_prefix: str, readers: dict[str, list],
                                            monkeypatch: pytest.MonkeyPatch):
    if not few_in_flight:  # the control: reads held whatever is in flight
        monkeypatch.setattr(AmqpTransport, "_few_in_flight", lambda self: True)
    count = 2_000
    publisher, exchange, queue = await watched(start_publisher, amqp, exchange_prefix,
                                               readers, 0.05)
    for number in range(count):
        publisher.submit(message(exchange, number))
    await wait_until(lambda: publisher.counters.confirmed == count, timeout=60,
                     what="the burst confirmed")
    await paced(publisher, exchange, 3, 0.01)  # a few alone: these may be held
    await wait_until(lambda: publisher.counters.confirmed == count + 3, what="confirmed")
    declared = await amqp.declare_queue(queue.name, passive=True)
    assert declared.declaration_result.message_count == count + 3
    held_at = readers["held_at"]
    assert held_at, "reads were never held"
    half = publisher.config.max_in_flight // 2
    if few_in_flight:
        assert max(held_at) < half, f"held with {max(held_at)} in flight"
    else:
        assert max(held_at) >= half



@pytest.mark.parametrize("cancel_on_loss", [True, False], ids=["as-built", "control-no-cancel"])
async def test_a_lost_connections_reader_is_freed_even_while_it_held_reads(
        cancel_on_loss: bool, start_publisher, amqp, exchange_prefix: str,
        monkeypatch: pytest.MonkeyPatch):
    """The connection lost while reads are held (the broker killed, the network cut): the
    publisher connects again with a new reader, and the old one, its timer due in 5 s, must
    not live on - not in the loop's timers, nor in what the transport kept of the lost
    connection (its channel, its socket's writer: they hold all of it)."""
    made: list[weakref.ref[LingeringReader]] = []
    connection_made = LingeringReader.connection_made

    def noted(self, transport):
        made.append(weakref.ref(self))
        connection_made(self, transport)

    monkeypatch.setattr(LingeringReader, "connection_made", noted)
    if not cancel_on_loss:  # the control: losing the connection leaves the timer due
        monkeypatch.setattr(LingeringReader, "connection_lost",
                            asyncio.StreamReaderProtocol.connection_lost)
    publisher = await one_confirmed(start_publisher, amqp, exchange_prefix, 5.0)
    lost = made[0]
    assert lost() is not None and lost().holding
    lost()._linger_socket.abort()  # no Connection.Close: the connection is simply gone
    await wait_until(lambda: len(made) == 2 and publisher.transport.connected, timeout=20,
                     what="connected again")
    gc.collect()
    if cancel_on_loss:
        assert lost() is None
    else:
        assert lost() is not None and lost().holding
    # and the new connection publishes
    await paced(publisher, f"{exchange_prefix}.operational_events", 1, 0)
    await wait_until(lambda: publisher.counters.confirmed == 2, what="confirmed again")
