"""A consumer of Kytos event envelopes: validates, de-duplicates, acks after the handler.

- Broker location and credentials from the same environment variables as the producer
  (KYTOS_MQ_URL, or KYTOS_MQ_HOST / _PORT / _USERNAME / _PASSWORD / _VHOST / _TLS), and the
  same TLS files (KYTOS_MQ_CA_FILE, KYTOS_MQ_CERT_FILE, KYTOS_MQ_KEY_FILE).
- Declares its queue (durable when named) with a dead-letter exchange, binds it, and consumes
  with a robust connection that reconnects and restores the consumer.
- A message that does not validate against the envelope schema is rejected without requeue,
  so RabbitMQ dead-letters it (named queues: to the ``kytos_events.dead`` exchange and queue,
  as the producer declares them), and a line says why.
- The handler runs once per message_id (the producer is at-least-once); the message is acked
  only after the handler returns; if it raises, the message is requeued.
"""

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
import aiormq
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from pydantic import ValidationError

from listen_events.envelope import Envelope
from mq_producer.transports.amqp.broker import BrokerSettings, connection_error_text
from mq_producer.transports.amqp.connection import robust_connection

log = logging.getLogger("mq_consumer")

Handler = Callable[[Envelope], Awaitable[None]]


class ConsumerConnectionError(ConnectionError):
    """The first connection failed; the message names the broker (no password) and why."""


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
    dead_letter: str = "kytos_events.dead"  # exchange and queue for invalid messages
    prefetch: int = 64
    dedup_window: int = 100_000  # message ids remembered for de-duplication
    declare_exchanges: bool = True  # passive check only when False
    exchange_type: str = "topic"
    queue_arguments: dict[str, object] = field(default_factory=dict)


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
        self._connection: AbstractRobustConnection | None = None
        self.queue: AbstractQueue | None = None
        self.connected = asyncio.Event()
        self.counters = {"handled": 0, "duplicates": 0, "invalid": 0, "handler_errors": 0}

    async def start(self) -> None:
        """Connect, declare and bind, and start consuming in the background."""
        try:
            self._connection = connection = robust_connection(self._broker,
                                                              "kytos mq_consumer")
            await connection.connect()
        except (aiormq.exceptions.AMQPError, aio_pika.exceptions.AMQPException, OSError,
                ValueError) as exc:
            await self.close()
            raise ConsumerConnectionError(
                f"cannot connect to {self._broker.display}: "
                f"{connection_error_text(self._broker, exc)}") from None
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._options.prefetch)
        arguments = dict(self._options.queue_arguments)
        if self._options.queue:
            dead = await channel.declare_exchange(self._options.dead_letter,
                                                  aio_pika.ExchangeType.FANOUT, durable=True)
            dead_queue = await channel.declare_queue(self._options.dead_letter, durable=True)
            await dead_queue.bind(dead)
            arguments.setdefault("x-dead-letter-exchange", dead.name)
            self.queue = await channel.declare_queue(self._options.queue, durable=True,
                                                     arguments=arguments)
        else:
            self.queue = await channel.declare_queue(exclusive=True, arguments=arguments)
        for binding in self._options.bindings:
            if self._options.declare_exchanges:
                await channel.declare_exchange(binding.exchange,
                                               aio_pika.ExchangeType(self._options.exchange_type),
                                               durable=True)
            await self.queue.bind(binding.exchange, binding.pattern)
        await self.queue.consume(self._on_message)
        self.connected.set()
        log.info("mq_consumer: consuming queue %r from %s (%s)", self.queue.name,
                 self._broker.display,
                 ", ".join(f"{b.exchange}:{b.pattern}" for b in self._options.bindings)
                 or "no binding")

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.model_validate_json(message.body)
        except ValidationError as exc:
            self.counters["invalid"] += 1
            log.error("mq_consumer: dead-lettering invalid message %s (routing key %r): %s",
                      message.message_id, message.routing_key,
                      "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                for e in exc.errors()[:5]))
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
            log.exception("mq_consumer: handler failed for message %s; requeued",
                          envelope.message_id)
            await asyncio.sleep(0.5)  # do not spin on a message that keeps failing
            await message.nack(requeue=True)
            return
        self.counters["handled"] += 1
        await message.ack()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
