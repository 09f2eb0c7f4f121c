"""The AMQP 0-9-1 transport (RabbitMQ) on aio-pika: robust connection, publisher confirms."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from .config import BrokerSettings
from .outbox import OutboundMessage
from .transport import ExchangeError, PublishOutcome, TransportError

log = logging.getLogger("kytos.napps.kytos/mq_producer")



class _ReconnectNoise(logging.Filter):
    """Drops the client's line-per-attempt reconnection logs: the outage alarm reports
    unreachability once, with reminders, and on recovery."""

    _NOISE = ("error when creating transport", "Connection attempt to", "Reconnect attempt")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self._NOISE))


for _name in ("aiormq.connection", "aio_pika.robust_connection"):
    logging.getLogger(_name).addFilter(_ReconnectNoise())

# What the client raises when the broker is gone, the channel closed, or the link stalled.
_BROKER_ERRORS = (aiormq.exceptions.AMQPError, aio_pika.exceptions.AMQPException,
                  ConnectionError, OSError, TimeoutError, RuntimeError)


class AmqpTransport:
    def __init__(self, broker: BrokerSettings, *, exchange_type: str, heartbeat: int,
                 publish_timeout: float, reconnect_interval: float) -> None:
        self._broker = broker
        self._exchange_type = aio_pika.ExchangeType(exchange_type)
        self._heartbeat = heartbeat
        self._publish_timeout = publish_timeout
        self._reconnect_interval = reconnect_interval
        self._close_timeout = min(publish_timeout, 2.0)
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None  # strong ref: aio-pika holds a weak one
        self._exchanges: dict[str, AbstractExchange] = {}
        self._states: dict[str, str] = {}
        self._lost_callbacks: list[Callable[[str], None]] = []

    @property
    def description(self) -> str:
        return self._broker.display

    @property
    def connected(self) -> bool:
        return (self._connection is not None and self._connection.connected.is_set()
                and self._channel is not None and not self._channel.is_closed
                and len(self._exchanges) == len(self._states))

    @property
    def destinations(self) -> dict[str, str]:
        return dict(self._states)

    def on_lost(self, callback: Callable[[str], None]) -> None:
        self._lost_callbacks.append(callback)

    def _connection_closed(self, connection: object, error: BaseException | None) -> None:
        if connection is not self._connection or error is None:  # closed by us, or an old one
            return
        for callback in self._lost_callbacks:
            callback(f"connection to {self.description} lost: {self._scrub(error)}")

    def _scrub(self, error: BaseException) -> str:
        """An error's text without the password, whatever the library put in it."""
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return text.replace(self._broker.password.reveal(), "***") \
            if self._broker.password.reveal() else text

    async def connect(self, exchanges: Sequence[str]) -> None:
        try:
            if self._connection is None or self._connection.is_closed:
                self._connection = await aio_pika.connect_robust(
                    self._broker.url, heartbeat=self._heartbeat,
                    reconnect_interval=self._reconnect_interval,
                    timeout=self._publish_timeout,
                    client_properties={"connection_name": "kytos/mq_producer"})
                self._connection.close_callbacks.add(self._connection_closed)
            elif not self._connection.connected.is_set():
                raise TransportError(f"reconnecting to {self.description}")
            if self._channel is None or self._channel.is_closed:
                self._channel = await self._connection.channel(publisher_confirms=True)
        except TransportError:
            raise
        except _BROKER_ERRORS as exc:
            raise TransportError(f"cannot connect to {self.description}: "
                                 f"{self._scrub(exc)}") from None
        self._exchanges.clear()
        for name in exchanges:
            self._states[name] = "checking"
            await self._check_exchange(name)
            self._exchanges[name] = await self._channel.get_exchange(name, ensure=False)

    async def _check_exchange(self, name: str) -> None:
        """Passive declare on a throwaway channel (a 404 closes it); declare when missing."""
        assert self._connection is not None
        exists = await self._declare(name, passive=True)
        created = await self._declare(name, passive=False)
        if created == "refused":
            if exists == "ok":
                self._states[name] = "exists (type not verified: no configure permission)"
                return
            self._states[name] = "missing"
            raise ExchangeError(name, f"does not exist and user {self._broker.username!r} may "
                                      "not create it (no 'configure' permission): a broker "
                                      "administrator must declare it as a durable "
                                      f"{self._exchange_type.value} exchange")
        if created == "mismatch":
            self._states[name] = "wrong type"
            raise ExchangeError(name, f"exists but is not a durable {self._exchange_type.value} "
                                      "exchange: delete it or change EXCHANGE_TYPE / ROUTES")
        if exists == "missing":
            log.info("mq_producer: created exchange %r (%s, durable)", name,
                     self._exchange_type.value)
        self._states[name] = "ok"

    async def _declare(self, name: str, *, passive: bool) -> str:
        assert self._connection is not None
        try:
            channel = await self._connection.channel(publisher_confirms=False)
        except _BROKER_ERRORS as exc:
            self._states[name] = "unknown"
            raise TransportError(f"cannot open a channel to check exchange {name!r}: "
                                 f"{self._scrub(exc)}") from None
        try:
            await channel.declare_exchange(name, self._exchange_type, durable=True,
                                           passive=passive, timeout=self._publish_timeout)
            return "ok"
        except aiormq.exceptions.ChannelNotFoundEntity:
            return "missing"
        except aiormq.exceptions.ChannelAccessRefused:
            return "refused"
        except aiormq.exceptions.ChannelPreconditionFailed:
            return "mismatch"
        except _BROKER_ERRORS as exc:
            self._states[name] = "unknown"
            raise TransportError(f"cannot check exchange {name!r}: {self._scrub(exc)}") from None
        finally:
            # Bounded: on a stalled link a close would wait forever for the broker's reply,
            # and this may run while the caller is cancelling us for taking too long.
            await self._close_quietly(channel)

    async def publish(self, message: OutboundMessage) -> PublishOutcome:
        exchange = self._exchanges.get(message.exchange)
        if exchange is None or not self.connected:
            raise TransportError(f"not connected to {self.description}")
        amqp_message = aio_pika.Message(
            message.body, content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=message.message_id,
            timestamp=int(message.timestamp), type=message.event_name,
            app_id="kytos/mq_producer")
        try:
            result = await exchange.publish(amqp_message, message.routing_key, mandatory=True,
                                            timeout=self._publish_timeout)
        except aiormq.exceptions.DeliveryError as exc:
            raise TransportError(f"broker refused message {message.message_id} "
                                 f"(nack): {self._scrub(exc)}") from None
        except _BROKER_ERRORS as exc:
            raise TransportError(f"publish to {message.exchange!r} failed: "
                                 f"{self._scrub(exc)}") from None
        if isinstance(result, DeliveredMessage):
            return PublishOutcome.RETURNED
        if isinstance(result, Basic.Ack):
            return PublishOutcome.CONFIRMED
        raise TransportError(f"unexpected publish result {type(result).__name__}")

    async def close(self) -> None:
        """Drop the connection (bounded wait); the next connect() starts afresh."""
        connection, self._connection, self._channel = self._connection, None, None
        self._exchanges.clear()
        if connection is not None:
            await self._close_quietly(connection)

    async def _close_quietly(self, closable: AbstractChannel | AbstractRobustConnection) -> None:
        if closable.is_closed:
            return
        with contextlib.suppress(*_BROKER_ERRORS):
            await asyncio.wait_for(closable.close(), self._close_timeout)
