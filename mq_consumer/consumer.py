"""A consumer of Kytos event envelopes: validates, de-duplicates, acks after the handler.

- Broker location and credentials from the same environment variables as the producer
  (KYTOS_MQ_URL, or KYTOS_MQ_HOST / _PORT / _USERNAME / _PASSWORD / _VHOST / _TLS), and the
  same TLS files (KYTOS_MQ_CA_FILE, KYTOS_MQ_CERT_FILE, KYTOS_MQ_KEY_FILE).
- Declares its queue (durable when named) with a dead-letter exchange, binds it, and consumes
  with a robust connection that reconnects and restores the consumer. For a cluster (several
  nodes in KYTOS_MQ_URL / KYTOS_MQ_HOST) it connects to the first node that answers and,
  when that connection is lost, resumes on the next ones in turn (declaring and binding
  again: a quorum queue is still there; a classic one that lived on the lost node is
  declared afresh).
- A message that does not validate against the envelope schema is rejected without requeue,
  so RabbitMQ dead-letters it (named queues: to the ``kytos_events.dead`` exchange and queue,
  as the producer declares them), and a line says why.
- The handler runs once per message_id (the producer is at-least-once), for one message at a
  time, in the order the broker delivers them (the producer's order per key); the message is
  acked only after the handler returns; if it raises, the message is requeued. ``close()``
  lets the message being handled finish; those delivered but not handled yet go back to the
  queue.
"""

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
import aiormq
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from listen_events.envelope import Envelope
from mq_producer.config import typed
from mq_producer.transports.amqp.broker import BrokerSettings, connection_error_text
from mq_producer.transports.amqp.connection import robust_connection, single_connection

log = logging.getLogger("mq_consumer")

RESUME_DELAY = 1.0  # seconds between two rounds of a cluster's nodes, none answering
_CONNECT_ERRORS = (aiormq.exceptions.AMQPError, aio_pika.exceptions.AMQPException, OSError,
                   ValueError, TimeoutError)

Handler = Callable[[Envelope], Awaitable[None]]


class ConsumerConnectionError(ConnectionError):
    """The first connection failed, or the broker refused the queue, an exchange or a binding;
    the message names the broker (no password) and why."""


@dataclass(frozen=True)
class Binding:
    exchange: str
    pattern: str

    @classmethod
    def parse(cls, text: str) -> "Binding":
        """'exchange:pattern', e.g. 'operational_events:#.link_down'."""
        exchange, sep, pattern = text.partition(":")
        if not sep or not exchange or not pattern:
            raise ValueError(f"binding {text!r}: expected EXCHANGE:PATTERN")
        return cls(exchange, pattern)


@dataclass(frozen=True)
class ConsumerOptions:
    bindings: Sequence[Binding]
    queue: str = ""  # "" = a private queue that disappears with the consumer
    # Exchange and queue for invalid messages (named queues); "": none, they are dropped
    # (a queue declared by mq_producer without one, such as NAPP_QUEUES' and VERBOSE_QUEUE's).
    dead_letter: str = "kytos_events.dead"
    prefetch: int = 64
    dedup_window: int = 100_000  # message ids remembered for de-duplication
    declare_exchanges: bool = True  # passive check only when False
    exchange_type: str = "topic"
    queue_arguments: dict[str, object] = field(default_factory=dict)
    # mq_producer's QUEUE_TYPE: the named queue and the dead-letter queue are declared as it
    # declares them (another type is refused by the broker); a private queue stays classic.
    queue_type: str = "classic"
    # What a WARNING says when the named queue is not on the broker yet and is declared here
    # (a queue the producer declares: a mistyped name would otherwise wait in silence); "":
    # the queue is the consumer's own, created on first use as a matter of course.
    new_queue_note: str = ""


class SeenIds:
    """The most recent message ids, bounded."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, message_id: str) -> bool:
        """True when the id is new."""
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            return False
        self._ids[message_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True

    def discard(self, message_id: str) -> None:
        self._ids.pop(message_id, None)


class EventConsumer:
    def __init__(self, broker: BrokerSettings, options: ConsumerOptions,
                 handler: Handler) -> None:
        self._broker = broker
        self._options = options
        self._handler = handler
        self._seen = SeenIds(options.dedup_window)
        self._connection: AbstractConnection | None = None
        self._node = 0  # the cluster node in use (broker.node)
        self._resuming: asyncio.Task[None] | None = None
        self._closing = False
        # One message at a time, in delivery order: aio-pika runs each delivery's callback
        # in a task of its own, and asyncio.Lock lets them in in the order they ask.
        self._one_at_a_time = asyncio.Lock()
        self._handling: asyncio.Task[object] | None = None  # the task handling a message
        self._dead_lettered = False  # the queue in use has a dead-letter exchange
        self._looked = False  # whether what the first _consume declares was there is known
        self.queue: AbstractQueue | None = None
        self.connected = asyncio.Event()
        self.counters = {"handled": 0, "duplicates": 0, "invalid": 0, "handler_errors": 0}

    async def start(self) -> None:
        """Connect, declare and bind, and start consuming in the background."""
        if self._broker.node_count == 1:
            try:
                self._connection = connection = robust_connection(self._broker,
                                                                  "kytos mq_consumer")
                await connection.connect()
            except _CONNECT_ERRORS as exc:
                await self.close()
                raise ConsumerConnectionError(
                    f"cannot connect to {self._broker.display}: "
                    f"{connection_error_text(self._broker, exc)}") from None
            try:
                await self._consume(connection)
            except ValueError as exc:  # the client's encoder (pamqp), before the broker
                await self.close()
                raise ConsumerConnectionError(
                    f"the AMQP client cannot name a queue, an exchange or a binding so ({exc}): "
                    "it takes letters, digits, space and - _ . : @ # , / + in a name"
                    ) from None
            except _CONNECT_ERRORS as exc:
                await self.close()
                raise ConsumerConnectionError(
                    f"{self._broker.display} refused the queue, an exchange or a binding: "
                    f"{connection_error_text(self._broker, exc)}") from None
            return
        failures = await self._round()
        if failures:
            await self.close()
            raise ConsumerConnectionError("cannot connect to any node: " + "; ".join(failures))

    async def _round(self) -> list[str]:
        """The cluster's nodes in turn, from the one in use, until one takes us (then []);
        else why each failed."""
        failures = []
        for _ in range(self._broker.node_count):
            try:
                await self._connect_node()
                return []
            except _CONNECT_ERRORS as exc:
                node = self._broker.node(self._node)
                failures.append(f"{node.display}: {connection_error_text(node, exc)}")
                self._node += 1
        return failures

    async def _connect_node(self) -> None:
        """Connect to the cluster node in use, and consume there; raises what connecting
        raised. When the connection is lost, ``_resume`` goes on with the next nodes."""
        node = self._broker.node(self._node)
        connection = single_connection(node, "kytos mq_consumer")
        try:
            await connection.connect(timeout=10)
        except BaseException:
            with contextlib.suppress(*_CONNECT_ERRORS):
                await connection.close()
            raise
        self._connection = connection
        connection.close_callbacks.add(self._lost)
        await self._consume(connection)

    def _lost(self, connection: object, error: BaseException | None) -> None:
        if connection is not self._connection or self._closing:
            return
        self.connected.clear()
        log.warning("mq_consumer: connection to %s lost (%s): resuming on the next node",
                    self._broker.node(self._node).display, type(error).__name__)
        self._node += 1
        self._resuming = asyncio.get_running_loop().create_task(self._resume(),
                                                                name="mq_consumer.resume")

    async def _resume(self) -> None:
        """Try the nodes in turn, RESUME_DELAY apart after a whole round, until one takes us."""
        while not self._closing:
            failures = await self._round()
            if not failures:
                return
            log.debug("mq_consumer: no node answers: %s", "; ".join(failures))
            await asyncio.sleep(RESUME_DELAY)

    async def _consume(self, connection: AbstractConnection) -> None:
        options = self._options
        missing = [] if self._looked else await _missing(  # later, we declared them ourselves
            connection, options.queue if options.new_queue_note else "",
            [binding.exchange for binding in options.bindings] if options.declare_exchanges
            else [])
        self._looked = True
        await self._declare_and_consume(connection)
        for kind, name in missing:
            if kind == "queue":
                log.warning("mq_consumer: queue %r was not on the broker: declared it, empty. "
                            "%s", name, self._options.new_queue_note)
            else:
                log.warning("mq_consumer: exchange %r was not on the broker: declared it "
                            "(%s, durable); nothing reaches it until a producer publishes "
                            "there - mq_producer declares its exchanges (ROUTES, LINK_STATUS) "
                            "when it starts: if it has, check the name", name,
                            self._options.exchange_type)

    async def _declare_and_consume(self, connection: AbstractConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._options.prefetch)
        arguments = dict(self._options.queue_arguments)
        if self._options.queue:
            if self._options.dead_letter:
                dead = await channel.declare_exchange(self._options.dead_letter,
                                                      aio_pika.ExchangeType.FANOUT,
                                                      durable=True)
                dead_queue = await channel.declare_queue(
                    self._options.dead_letter, durable=True,
                    arguments=typed({}, self._options.queue_type))
                await dead_queue.bind(dead)
                arguments.setdefault("x-dead-letter-exchange", dead.name)
            self.queue = await channel.declare_queue(
                self._options.queue, durable=True,
                arguments=typed(arguments, self._options.queue_type))
        else:
            self.queue = await channel.declare_queue(exclusive=True, arguments=arguments)
        self._dead_lettered = "x-dead-letter-exchange" in arguments
        for binding in self._options.bindings:
            if self._options.declare_exchanges:
                await channel.declare_exchange(binding.exchange,
                                               aio_pika.ExchangeType(self._options.exchange_type),
                                               durable=True)
            await self.queue.bind(binding.exchange, binding.pattern)
        await self.queue.consume(self._on_message)
        self.connected.set()
        log.info("mq_consumer: consuming queue %r from %s (%s)", self.queue.name,
                 self._broker.node(self._node).display,
                 ", ".join(f"{b.exchange}:{b.pattern}" for b in self._options.bindings)
                 or "no binding")

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        async with self._one_at_a_time:
            if self._closing:  # not acked: the broker gives it back to the queue
                return
            self._handling = asyncio.current_task()
            try:
                await self._handle(message)
            finally:
                self._handling = None

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.model_validate_json(message.body)
        except ValidationError as exc:
            self.counters["invalid"] += 1
            log.error("mq_consumer: %s invalid message %r (routing key %r): %s",
                      "dead-lettering" if self._dead_lettered
                      else "dropping (the queue has no dead-letter exchange)",
                      message.message_id, message.routing_key, _why_invalid(exc))
            await message.reject(requeue=False)
            return
        if not self._seen.add(envelope.message_id):
            self.counters["duplicates"] += 1
            await message.ack()
            return
        try:
            await self._handler(envelope)
        except Exception:
            self.counters["handler_errors"] += 1
            self._seen.discard(envelope.message_id)  # its redelivery must run the handler
            log.exception("mq_consumer: handler failed for message %r; requeued",
                          envelope.message_id)
            await asyncio.sleep(0.5)  # do not spin on a message that keeps failing
            await message.nack(requeue=True)
            return
        self.counters["handled"] += 1
        await message.ack()

    def stop_handling(self) -> None:
        """Handle no more messages, from now on (a handler may call it): those delivered but
        not handled yet go back to the queue when ``close()`` closes the connection."""
        self._closing = True

    async def close(self, handler_timeout: float = 5.0) -> None:
        """Stop: the message being handled finishes (and is acked) if it does within
        ``handler_timeout`` seconds; else, and for those delivered but not handled yet, the
        broker gives them back to the queue when the connection closes."""
        self.stop_handling()
        if asyncio.current_task() is not self._handling:  # (the handler may close us)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(handler_timeout), self._one_at_a_time:
                    pass  # the message being handled is done
        if self._resuming is not None:  # our own task
            self._resuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resuming
            self._resuming = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


async def _missing(connection: AbstractConnection, queue: str,
                   exchanges: Sequence[str]) -> list[tuple[str, str]]:
    """Which of ``queue`` (if any) and ``exchanges`` the broker does not have: ("queue" |
    "exchange", name) each. Passive declares, on a plain channel (a 404 closes it, and a
    robust channel would reopen itself), a new one after each 404. Advisory: if the broker
    cannot be asked, nothing is reported."""
    wanted = [("queue", queue)] * bool(queue) + [("exchange", name)
                                                  for name in dict.fromkeys(exchanges)]
    missing: list[tuple[str, str]] = []
    channel: aio_pika.Channel | None = None
    try:
        for kind, name in wanted:
            if channel is None or channel.is_closed:
                channel = await aio_pika.Channel(connection, publisher_confirms=False)
            try:
                if kind == "queue":
                    await channel.declare_queue(name, passive=True)
                else:
                    await channel.declare_exchange(name, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                missing.append((kind, name))
    except _CONNECT_ERRORS as exc:
        log.debug("mq_consumer: could not look for %s: %s", wanted, type(exc).__name__)
    finally:
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(*_CONNECT_ERRORS):
                await channel.close()
    return missing


WHY_LIMIT = 300  # characters of a validation error quoted in the log


def _why_invalid(error: ValidationError) -> str:
    """The first errors, quoted safely: a field's name comes from the message, and may hold a
    newline (a forged log line) or megabytes."""
    why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
    why = why.encode("unicode_escape").decode("ascii")  # control characters as \n, \x1b
    return why if len(why) <= WHY_LIMIT else f"{why[:WHY_LIMIT]}... ({len(why)} characters)"
