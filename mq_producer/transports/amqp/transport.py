"""The AMQP 0-9-1 transport (RabbitMQ) on aio-pika: robust connection, publisher confirms.

It declares what the settings name (exchanges,
queues, the dead-letter exchange, per-link status queues) and publishes with ``mandatory``,
waiting for the broker's confirm.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import partial

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq.abc import DeliveredMessage
from pamqp import frame as amqp_frame
from pamqp.commands import Basic, Connection

try:  # the fast path's frame carrier, an aiormq internal: without it, the public path
    from aiormq.abc import ChannelFrame
except ImportError:  # pragma: no cover - only with an aiormq that moved it
    ChannelFrame = None

from ...config import LINK_QUEUE_ARGUMENTS, ProducerConfig, QueueSpec, typed
from ...outbox import OutboundMessage
from ...tasks import cancel
from ..base import (
    ExchangeError,
    Outcome,
    PublishOutcome,
    Settle,
    TransportError,
    Unpublishable,
    check_into,
)
from .broker import connection_error_text
from .confirm_reads import ConfirmLinger
from .connection import single_connection
from .declarations import LinkQueues
from .frames import (
    APP_ID,
    CONTENT_TYPE,
    FRAME_PAYLOAD_LIMIT,
    PERSISTENT,
    body_frame_limit,
    frame_chunks,
    publish_head,
)

log = logging.getLogger("kytos.napps.kytos/mq_producer")


# What the client raises when the broker is gone, the channel closed, or the link stalled.
_BROKER_ERRORS = (aiormq.exceptions.AMQPError, aio_pika.exceptions.AMQPException,
                  ConnectionError, OSError, TimeoutError, RuntimeError)

MAX_REFUSED_ROUTES = 10_000  # routes whose refusals _note_refused follows at once
WRITE_CHUNK = 256 * 1024  # bytes of frames handed to aiormq's writer per turn of the loop

# The broker closing the channel over the publishes themselves: no write permission on the
# exchange (403), the exchange deleted (404). The alarm says the broker refuses publishing.
_PUBLISH_REFUSALS = (aiormq.exceptions.ChannelAccessRefused,
                     aiormq.exceptions.ChannelNotFoundEntity)

# RabbitMQ's reason when it refuses a publish for want of the write permission.
_REFUSED_EXCHANGE = re.compile(r"access to exchange '(.+?)' in vhost '")
# RabbitMQ's reason when it closes a channel over a message larger than max_message_size.
_TOO_LARGE = re.compile(r"message size (\d+) is larger than configured max size (\d+)")

# aiormq's handlers of Connection.Blocked and Connection.Unblocked, as its reader calls them.
BLOCKED_HANDLERS = ("_Connection__handle_connection_blocked",
                    "_Connection__handle_connection_unblocked")


def _refused_exchange(error: BaseException | None) -> str | None:
    """The exchange a channel's closing with ACCESS_REFUSED names, or None: RabbitMQ's text
    is "ACCESS_REFUSED - access to exchange 'X' in vhost 'V' refused for user 'U'" (pinned
    by tests/integration/test_broker_settings.py, on both publish paths)."""
    if not isinstance(error, aiormq.exceptions.ChannelAccessRefused):
        return None
    named = _REFUSED_EXCHANGE.search(str(error))
    return named[1] if named is not None else None


def _refused(error: BaseException) -> bool:
    """Whether a connect failed because nothing accepted the TCP connection."""
    seen: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in seen:
        if isinstance(cause, ConnectionRefusedError):
            return True
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    return False


def _open_on_broker(channel: aiormq.abc.AbstractChannel) -> bool:
    """Whether frames may still be written on ``channel``: False as soon as aiormq's connection
    reader has read the broker's Channel.Close for it.

    aiormq marks the channel closed (``is_closed``) only a few turns of the loop later, after
    its channel reader has queued Channel.CloseOk - and a publish written after that CloseOk
    reaches a channel the broker has freed, which it answers by closing the whole connection
    (504 CHANNEL_ERROR), failing everything in flight on it. The connection reader takes the
    channel out of ``connection.channels`` (public: aiormq's AbstractConnection) the moment it
    reads Channel.Close or Channel.CloseOk, before handing the frame on; frames queued before
    the CloseOk are dropped by the broker (the spec: a closing channel discards all methods
    but Close and Close-Ok), so checking this with no await between it and the put is safe.
    """
    return (not channel.is_closed
            and channel.connection.channels.get(channel.number) is channel)


# aiormq queues Channel.CloseOk with put_nowait and silently drops it when its (bounded) write
# queue is full: the broker's channel then never closes. A publish leaves that slot free.
def _has_room(queue: asyncio.Queue[ChannelFrame]) -> bool:
    return queue.maxsize <= 0 or queue.qsize() < max(queue.maxsize - 1, 1)


async def _room_in(queue: asyncio.Queue[ChannelFrame]) -> None:
    """Wait until ``_has_room``: aiormq's writer takes a frame per turn of the loop (it waits
    for the socket only for frames that ask it to, which we never send)."""
    turns = 0
    while not _has_room(queue):
        turns += 1
        await asyncio.sleep(0 if turns < 16 else 0.001)


class AmqpTransport:
    def __init__(self, config: ProducerConfig) -> None:
        self._config = config
        assert config.broker is not None, "load_config reads the broker for the amqp transport"
        self._cluster = config.broker  # one node, or a cluster's (broker.py)
        self._node = 0
        self._failed_nodes = 0  # connections refused in a row (nodes of a cluster)
        self._broker = config.broker.node(0)  # the node connected to, or tried next
        self._exchange_type = aio_pika.ExchangeType(config.exchange_type)
        self._close_timeout = min(config.publish_timeout, 2.0)
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None  # strong ref: aio-pika holds a weak one
        self._exchanges: set[str] = set()  # checked since the last (re)connection
        self._unusable: dict[str, ExchangeError] = {}  # of those, the ones we cannot use
        self._states: dict[str, str] = {}
        self._queue_states: dict[str, str] = {}
        self._queue_failures: dict[str, str] = {}  # the refusal last logged, by queue
        self._lost_callbacks: list[Callable[[str], None]] = []
        self._blocked_callbacks: list[Callable[[str | None], None]] = []
        self._blocked_unseen_warned = False
        # The broker's, once it refused a message; kept for the NApp's life (a broker whose
        # limit is raised is taken at its word after Kytos restarts).
        self._max_message_size: int | None = None
        self._fast = config.amqp_fast_path  # decided again for each channel (see publish)
        self._fast_path_warned = False
        self._public_tasks: set[asyncio.Task[object]] = set()
        self._purge_refused: set[str] = set()  # status queues we may not purge (logged once)
        self._purge_channel: AbstractChannel | None = None  # see purge_status
        self._purge_channel_of: AbstractConnection | None = None
        self._watched_channel: aiormq.Channel | None = None  # _channel_closed is armed on it
        # Per route (exchange, routing key): since when its messages have been refused (nacks)
        # with no confirm between them, and the last refusal; and when a new channel was last
        # opened for such refusals (see _note_refused).
        self._refused_since: dict[tuple[str, str], tuple[float, float]] = {}
        self._renewed_at = -math.inf
        self._renew = False  # publish() opens a new channel before it sends
        self._retired: aiormq.abc.AbstractChannel | None = None  # the channel renew left
        self._underlay: aiormq.abc.AbstractChannel | None = None  # the channel's, for publish_now
        self._writer_of: object = None  # the aiormq connection whose socket writer is _writer
        self._writer: asyncio.StreamWriter | None = None
        # CONFIRM_READ_LINGER_MS; ``seconds`` may be changed while connected (the benchmark).
        self.confirm_linger = ConfirmLinger(config.confirm_read_linger, self._few_in_flight)
        names = [*config.router.exchanges]
        if config.link_status.enabled:
            names += [config.link_status.exchange, config.link_status.queues_exchange]
        self._exchange_names = tuple(dict.fromkeys(names))
        # Per-link status queues: declared in the background, remembered across connections.
        self._link_queues = LinkQueues(self._link_queue, self._queue_state, self._scrub,
                                       config.link_status.exchange)
        for link_id in sorted(config.link_status.link_ids):
            self._link_queues.add(link_id)

    @property
    def description(self) -> str:
        return self._broker.display

    @property
    def publish_path(self) -> str:
        """How messages go out on the current channel: "fast" (our frame writer) or
        "basic_publish" (aiormq's public path)."""
        return "fast" if self._fast else "basic_publish"

    @property
    def connected(self) -> bool:
        return (self._connection is not None and self._connection.connected.is_set()
                and self._channel is not None and not self._channel.is_closed
                and len(self._exchanges) == len(self._exchange_names))

    @property
    def destinations(self) -> dict[str, str]:
        return dict(self._states)

    @property
    def queues(self) -> dict[str, str]:
        return {**self._queue_states, **self._link_queues.states}

    @property
    def status_copies(self) -> bool:
        return True  # status messages go straight to their queue, not through the exchange

    def destination(self, message: OutboundMessage) -> tuple[str, str]:
        """A link status goes to its link's queue alone (through LINK_STATUS' queues
        exchange), so that a refusal and its retry concern that queue only;
        LINK_STATUS.exchange gets one copy once it is accepted (publisher.py)."""
        if message.link_id is None:
            return message.exchange, message.routing_key
        return self._config.link_status.queues_exchange, message.link_id

    async def purge_status(self, link_id: str) -> int | None:
        """On a channel of its own, kept for the connection: never closed by us (a channel
        closed as Kytos stops left aio-pika's and aiormq's close tasks pending), it goes with
        the connection; one the broker closed (a refusal) is replaced next time."""
        connection = self._connection
        if connection is None or not connection.connected.is_set():
            raise self._not_connected()
        name = self._config.link_status.queue(link_id)
        try:
            channel = self._purge_channel
            if channel is None or channel.is_closed or self._purge_channel_of is not connection:
                channel = await aio_pika.Channel(connection, publisher_confirms=False)
                self._purge_channel, self._purge_channel_of = channel, connection
            queue = await channel.get_queue(name, ensure=False)
            answer = await queue.purge(timeout=self._close_timeout)
            return answer.message_count or 0
        except (aiormq.exceptions.ChannelNotFoundEntity,
                aiormq.exceptions.ChannelAccessRefused) as exc:
            outcome = "missing" if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity) \
                else "refused"
        except _BROKER_ERRORS as exc:
            raise TransportError(f"cannot purge queue {name!r}: {self._scrub(exc)}") from None
        if name not in self._purge_refused:
            self._purge_refused.add(name)
            log.warning("mq_producer: cannot purge the status queue %r (%s): its present "
                        "status waits until the consumer has read the older one (retried "
                        "every RETRY_INTERVAL; logged once per queue)", name,
                        "no such queue" if outcome == "missing" else self._queue_state(outcome))
        return None

    def declare_again(self, link_id: str) -> bool:
        return self._link_queues.declare_again(link_id)

    def ready(self, message: OutboundMessage) -> bool:
        """False while the queue of the message's link is not declared on this connection
        (see declarations.py): it is being declared, and ``on_ready`` callbacks are called
        with the link id once it is (or once the broker refused it)."""
        link_id = message.link_id
        return link_id is None or self._link_queues.ready(link_id)

    def on_ready(self, callback: Callable[[str], None]) -> None:
        self._link_queues.on_ready(callback)

    def on_lost(self, callback: Callable[[str], None]) -> None:
        self._lost_callbacks.append(callback)

    def on_blocked(self, callback: Callable[[str | None], None]) -> None:
        self._blocked_callbacks.append(callback)

    def _blocked_changed(self, connection: object, reason: str | None) -> None:
        if connection is not self._connection:
            return  # an old connection's
        for callback in self._blocked_callbacks:
            callback(reason)

    def _connection_closed(self, connection: object, error: BaseException | None) -> None:
        if connection is not self._connection or error is None:  # closed by us, or an old one
            return
        reason = f"connection to {self.description} lost: {self._scrub(error)}"
        self._next_node()
        for callback in self._lost_callbacks:
            callback(reason)

    def _not_connected(self) -> TransportError:
        """The "not connected" error, with why when the broker said (it closed the connection
        or the channel: CONNECTION_FORCED, a 404...): a publish may find the connection gone
        before its close callbacks have run, and its error is what the outage alarm says."""
        return self._failure(f"not connected to {self.description}",
                             _closed_by(self._underlay))

    def _failure(self, what: str, cause: BaseException | None) -> TransportError:
        """``what`` failed, for ``cause`` when known (its text scrubbed): refused, and the
        exchange RabbitMQ named, when ``cause`` is the broker refusing the publishes."""
        return TransportError(what + (f": {self._scrub(cause)}" if cause is not None else ""),
                              refused=isinstance(cause, _PUBLISH_REFUSALS),
                              exchange=_refused_exchange(cause))

    def _next_node(self) -> None:
        """A cluster's next node, for the next connection (in turn, round and round)."""
        self._node += 1
        self._broker = self._cluster.node(self._node)

    def _scrub(self, error: BaseException) -> str:
        """An error's text without the password, whatever the library put in it."""
        return connection_error_text(self._broker, error)

    async def connect(self) -> None:
        config = self._config
        try:
            if self._connection is None or not self._connection.connected.is_set():
                await self.close()  # a lost connection does not come back by itself
                self._connection = connection = single_connection(
                    self._broker, "kytos/mq_producer", reports_losses=True,  # the alarm
                    confirm_linger=self.confirm_linger, heartbeat=config.heartbeat)
                try:
                    # Bounded here, not by aio-pika's timeout: its wait_for runs the attempt in
                    # a task of its own, which a stop of Kytos mid-attempt could not reach.
                    async with asyncio.timeout(config.publish_timeout):
                        await connection.connect()
                except (*_BROKER_ERRORS, ValueError) as exc:  # the next attempt starts afresh
                    self._connection = None
                    await self._close_quietly(connection)
                    where = self.description
                    self._next_node()
                    self._failed_nodes += 1
                    # A cluster's node that fails: the next one is tried at once; the alarm
                    # is raised once every node has failed in a row (or a connection was lost).
                    all_failed = self._failed_nodes >= self._cluster.node_count
                    raise TransportError(f"cannot connect to {where}: {self._scrub(exc)}",
                                         nobody_listening=_refused(exc) or not all_failed,
                                         outage=all_failed) from None
                except asyncio.CancelledError:  # no answer in time: the caller closes it
                    self._next_node()
                    raise
                if self._cluster.node_count > 1:
                    log.info("mq_producer: connected to cluster node %s (%d of %d)%s",
                             self.description, self._node % self._cluster.node_count + 1,
                             self._cluster.node_count,
                             f" after {self._failed_nodes} failed" if self._failed_nodes else "")
                self._failed_nodes = 0
                connection.close_callbacks.add(self._connection_closed)  # losses from now on
                self._watch_blocked(connection)
            if self._channel is None or self._channel.is_closed:
                await self._open_channel()
                self._refused_since.clear()  # counted afresh on it (each spell then begins
                # after the last new channel: _note_refused may open another for it)
        except (*_BROKER_ERRORS, ValueError) as exc:  # ValueError: TLS key changed since load
            raise TransportError(f"cannot connect to {self.description}: {self._scrub(exc)}",
                                 nobody_listening=_refused(exc)) from None
        self._exchanges.clear()  # not connected until everything below is checked
        self._unusable.clear()
        for name in self._exchange_names:
            self._states[name] = "checking"
            # One that cannot be used does not fail the connection: its messages wait.
            await check_into(self._unusable, name, self._check_exchange(name))
        # Queues are checked after every (re)connection: a broker may have lost them.
        self._queue_states.clear()
        await self._ensure_dead_letter()
        # A queue bound to several exchanges (NAPP_QUEUES, VERBOSE_QUEUE) is several specs.
        by_name: dict[str, list[QueueSpec]] = {}
        for spec in config.queues:
            by_name.setdefault(spec.name, []).append(spec)
        for specs in by_name.values():
            await self._ensure_queue(*specs)
        self._exchanges = set(self._exchange_names)
        # Every link queue ever needed, LINK_STATUS.link_ids' too, again, in the background.
        self._link_queues.restart(self._connection)

    def _watch_blocked(self, connection: AbstractConnection) -> None:
        """Report the broker's Connection.Blocked / Unblocked (RabbitMQ's memory and disk
        alarms) to ``on_blocked`` callbacks. aiormq handles both frames itself - a log line,
        and its writer waits - and tells nobody: its reader calls them by their private
        names, so each is wrapped on this one connection (tests/unit/test_aiormq_contract.py
        pins those names). Where they are missing, one WARNING: a blocked broker then looks
        stalled (the connection is replaced after PUBLISH_TIMEOUT)."""
        underlay = getattr(connection.transport, "connection", None)
        handlers = [getattr(underlay, name, None) for name in BLOCKED_HANDLERS]
        if not all(callable(handler) for handler in handlers):
            if not self._blocked_unseen_warned:
                self._blocked_unseen_warned = True
                log.warning("mq_producer: this aiormq version does not let us see the "
                            "broker's connection.blocked notices: a memory or disk alarm will "
                            "look like a stalled connection")
            return
        blocked, unblocked = handlers

        async def on_blocked(frame: object) -> None:
            await blocked(frame)
            self._blocked_changed(connection, str(getattr(frame, "reason", "") or "unknown"))

        async def on_unblocked(frame: object) -> None:
            await unblocked(frame)
            self._blocked_changed(connection, None)

        setattr(underlay, BLOCKED_HANDLERS[0], on_blocked)
        setattr(underlay, BLOCKED_HANDLERS[1], on_unblocked)

    async def _on_throwaway_channel(self, what: str,
                                    action: Callable[[AbstractChannel], Awaitable[object]]
                                    ) -> str:
        """Run one declaration on its own channel (a refusal closes the channel it runs on):
        'ok', 'missing', 'refused' or 'mismatch'; TransportError when the broker is gone."""
        assert self._connection is not None
        try:
            # Not the robust connection's channel(): a robust channel the broker closes (a 404
            # from a passive check) reopens itself, and stayed open, unused, for good.
            channel = await aio_pika.Channel(self._connection, publisher_confirms=False)
        except _BROKER_ERRORS as exc:
            raise TransportError(f"cannot open a channel to {what}: "
                                 f"{self._scrub(exc)}") from None
        try:
            await action(channel)
            return "ok"
        except aiormq.exceptions.ChannelNotFoundEntity:
            return "missing"
        except aiormq.exceptions.ChannelAccessRefused:
            return "refused"
        except aiormq.exceptions.ChannelPreconditionFailed:
            return "mismatch"
        except _BROKER_ERRORS as exc:
            raise TransportError(f"cannot {what}: {self._scrub(exc)}") from None
        finally:
            # Bounded: on a stalled link a close would wait forever for the broker's reply,
            # and this may run while the caller is cancelling us for taking too long.
            await self._close_quietly(channel)

    @property
    def unusable_exchanges(self) -> dict[str, ExchangeError]:
        return dict(self._unusable)

    async def check_exchange(self, exchange: str) -> ExchangeError | None:
        if not self.connected:
            raise self._not_connected()
        return await check_into(self._unusable, exchange, self._check_exchange(exchange))

    async def _check_exchange(self, name: str) -> None:
        """Passive declare, then declare as durable EXCHANGE_TYPE (creates a missing one)."""
        timeout = self._config.publish_timeout

        def declare(passive: bool) -> Callable[[AbstractChannel], Awaitable[object]]:
            return lambda channel: channel.declare_exchange(
                name, self._exchange_type, durable=True, passive=passive, timeout=timeout)

        try:
            exists = await self._on_throwaway_channel(f"check exchange {name!r}", declare(True))
            created = await self._on_throwaway_channel(f"declare exchange {name!r}",
                                                       declare(False))
        except TransportError:
            self._states[name] = "unknown"
            raise
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

    async def _ensure_dead_letter(self) -> None:
        name = self._config.dead_letter

        async def declare(channel: AbstractChannel) -> None:
            exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT,
                                                      durable=True)
            queue = await channel.declare_queue(name, durable=True,
                                                arguments=typed({}, self._config.queue_type))
            await queue.bind(exchange)

        self._record_queue(name, await self._on_throwaway_channel(
            f"declare dead-letter exchange and queue {name!r}", declare))

    def _link_queue(self, link_id: str) -> QueueSpec:
        link_status = self._config.link_status
        return QueueSpec(link_status.queue(link_id), link_status.queues_exchange, link_id,
                         typed({**LINK_QUEUE_ARGUMENTS,
                                "x-dead-letter-exchange": self._config.dead_letter},
                               self._config.queue_type))

    async def _ensure_queue(self, spec: QueueSpec, *more: QueueSpec) -> None:
        """Declare a durable queue and bind it (``more``: the same queue's other bindings, on
        the same channel). Problems are logged, never fatal: events still flow to everything
        else (and come back as 'returned' if nothing is bound)."""

        async def declare(channel: AbstractChannel) -> None:
            queue = await channel.declare_queue(
                spec.name, durable=True, arguments=typed(spec.arguments, self._config.queue_type))
            for binding in (spec, *more):
                await queue.bind(binding.exchange, binding.binding)

        self._record_queue(spec.name, await self._on_throwaway_channel(
            f"declare queue {spec.name!r}", declare))

    def _record_queue(self, name: str, outcome: str) -> None:
        state = self._queue_state(outcome)
        if outcome == "ok":
            self._queue_failures.pop(name, None)
        elif self._queue_failures.get(name) != state:  # once per queue and reason, not at
            # every reconnection (every RETRY_INTERVAL while the publishes are refused too)
            self._queue_failures[name] = state
            log.error("mq_producer: queue %r not declared: %s", name, state)
        self._queue_states[name] = state

    def _queue_state(self, outcome: str) -> str:
        """A queue's state in v1/status for the outcome of its declaration."""
        return {"ok": "ok", "missing": "exchange missing",
                "refused": f"refused: user {self._broker.username!r} lacks a permission "
                           "to declare or bind it (docs/operating.rst: Least privilege)",
                "mismatch": "exists with other arguments or another type (delete it, or change "
                            "the settings: its arguments, QUEUE_TYPE)"
                }[outcome]

    async def publish(self, messages: Sequence[OutboundMessage], settle: Settle) -> None:
        """``messages`` in one write to the socket (more for bodies over WRITE_CHUNK), each
        with a ``_Confirmation`` in the channel's own bookkeeping (``confirmations``, keyed by
        delivery tag), where aiormq's basic_publish puts a future.

        Why not basic_publish: it marshals with pamqp (~40 us a message here), takes the
        channel lock, arms a timer and queues one write per message, and aio-pika adds a
        Message object on top. The frames are the same bytes (see frames.py and its
        test); the broker's acks, nacks and returns reach the confirmations through aiormq's
        reader as usual. When the channel or the connection closes, ``_channel_closed``
        fails those still waiting (aiormq rejects only the futures it made). With
        AMQP_FAST_PATH off, or an aiormq lacking an internal this needs, basic_publish it is
        (``_publish_public``).
        """
        if not self.connected:
            raise self._not_connected()
        if self._renew:
            await self._renew_channel()
        assert self._channel is not None
        try:
            channel = self._underlay = await self._channel.get_underlay_channel()
        except _BROKER_ERRORS as exc:
            raise TransportError(f"publish failed: {self._scrub(exc)}") from None
        if channel.is_closed or not channel.publisher_confirms:
            raise self._not_connected()
        if not self._fast:
            self._publish_public(channel, messages, settle)
            return
        # Frames go to aiormq's writer WRITE_CHUNK at a time, the loop getting a turn between
        # two: framing an 8.6 MB message and handing it to the socket in one step each held
        # the loop 4 ms. A batch of small messages is still one write.
        queue = channel.write_queue
        for position, payload in enumerate(self._framed(channel, messages, settle)):
            if position:
                await asyncio.sleep(0)
            if not _has_room(queue):
                await _room_in(queue)
            # Checked with no await before the frames are queued (see _open_on_broker). What
            # is registered but not written is failed by _channel_closed, with the broker's
            # reason, once aiormq has read the Channel.Close (a few turns of the loop).
            if not _open_on_broker(channel):
                return
            queue.put_nowait(ChannelFrame(payload=payload, should_close=False))

    def _few_in_flight(self) -> bool:
        """Whether fewer than half of MAX_IN_FLIGHT await their confirm on the publishing
        channel (aiormq's ``confirmations``, pinned by tests/unit/test_aiormq_contract.py):
        only then may reading the confirms linger. False where that cannot be told."""
        confirmations = getattr(self._underlay, "confirmations", None)
        return isinstance(confirmations, dict) \
            and len(confirmations) * 2 < self._config.max_in_flight

    def answers_wanted(self) -> None:
        """Held reads of confirms resume at once (confirm_reads.py)."""
        self.confirm_linger.read_now()

    def can_publish_now(self) -> bool:
        """The fast path, on a channel open on the broker whose writer has room."""
        channel = self._underlay
        return (self._fast and self.connected and channel is not None and not self._renew
                and channel.publisher_confirms and _open_on_broker(channel)
                and _has_room(channel.write_queue))

    def publish_now(self, messages: Sequence[OutboundMessage], settle: Settle) -> None:
        """``publish``'s fast path in one step: the frames of small messages in one piece,
        written to the socket here when aiormq's write queue is empty - aiormq's writer
        writes each frame in the step that takes it from the queue, so an empty queue means
        everything queued before is on the socket, and the frames keep their order - else
        queued behind the rest (the writer task's wake-up is what this saves)."""
        channel = self._underlay
        if not self.can_publish_now() or channel is None:
            raise self._not_connected()
        queue, writer = channel.write_queue, self._socket_writer(channel)
        for payload in self._framed(channel, messages, settle, chunk_size=None):
            if writer is not None and queue.empty():
                writer.write(payload)
            else:
                queue.put_nowait(ChannelFrame(payload=payload, should_close=False))

    def _socket_writer(self, channel: aiormq.abc.AbstractChannel
                       ) -> asyncio.StreamWriter | None:
        """The StreamWriter of the channel's connection (``_stream_writer``), found once per
        connection; None when it cannot be found or is closing."""
        connection = channel.connection
        if self._writer_of is not connection or self._writer is None:
            self._writer_of, self._writer = connection, _stream_writer(connection)
        writer = self._writer
        return None if writer is None or writer.is_closing() else writer

    def _framed(self, channel: aiormq.abc.AbstractChannel, messages: Sequence[OutboundMessage],
                settle: Settle, chunk_size: int | None = WRITE_CHUNK) -> Iterator[bytearray]:
        """Register ``messages`` in the channel's confirmations and give their frames, in
        buffers of about ``chunk_size`` bytes (None: one buffer)."""
        number = channel.number
        try:
            max_body = body_frame_limit(channel.connection.connection_tune.frame_max)
        except ValueError as exc:
            raise TransportError(f"cannot publish to {self.description}: {exc}") from None
        # What cannot be sent is settled on its own, before any delivery tag is taken.
        heads, messages = self._heads(number, messages, settle)
        if channel is not self._watched_channel:
            self._watched_channel = channel
            channel.closing.add_done_callback(partial(self._channel_closed, channel))
            _settle_multiple_acks_at_once(channel)
        # Numbered as the broker numbers the channel's publishes, and registered before any
        # frame is queued: the broker may answer as soon as it has a message's frames.
        for message in messages:
            channel.delivery_tag += 1
            tag = channel.delivery_tag
            channel.confirmations[tag] = _Confirmation(
                self, channel, tag, message, message.attempts, settle)
            channel.message_id_delivery_tag[message.message_id] = tag  # matches returns
        return frame_chunks(number, max_body, chunk_size or FRAME_PAYLOAD_LIMIT,
                            zip(heads, (message.body for message in messages), strict=True))

    def _fast_path_usable(self, channel: aiormq.abc.AbstractChannel) -> bool:
        """Whether the fast path may run on ``channel``: wanted (AMQP_FAST_PATH) and every
        aiormq internal it needs is there (tests/unit/test_aiormq_contract.py pins them). An
        aiormq upgrade that moves one costs speed, never correctness: one WARNING, and
        publishing goes through aiormq's public basic_publish."""
        if not self._config.amqp_fast_path:
            return False
        missing = [name for name, present in (
            ("aiormq.abc.ChannelFrame", ChannelFrame is not None),
            ("Channel.confirmations", isinstance(getattr(channel, "confirmations", None), dict)),
            ("Channel.message_id_delivery_tag",
             isinstance(getattr(channel, "message_id_delivery_tag", None), dict)),
            ("Channel.delivery_tag", isinstance(getattr(channel, "delivery_tag", None), int)),
            ("Channel.write_queue",
             isinstance(getattr(channel, "write_queue", None), asyncio.Queue)),
            ("Channel.closing", isinstance(getattr(channel, "closing", None), asyncio.Future)),
            ("Connection.connection_tune.frame_max", isinstance(getattr(getattr(
                getattr(channel, "connection", None), "connection_tune", None),
                "frame_max", None), int)),
        ) if not present]
        if missing and not self._fast_path_warned:
            self._fast_path_warned = True
            log.warning("mq_producer: aiormq %s lacks what the publish fast path needs (%s): "
                        "publishing through aiormq's basic_publish instead (slower, same "
                        "messages)", getattr(aiormq, "__version__", "?"), ", ".join(missing))
        return not missing

    def _publish_public(self, channel: aiormq.abc.AbstractChannel,
                        messages: Sequence[OutboundMessage], settle: Settle) -> None:
        """Each message through aiormq's public basic_publish, in a task of its own (it awaits
        the confirm); the channel's lock keeps them in order. The same frames as the fast
        path (tests/unit/test_amqp_frames.py compares the two)."""
        loop = asyncio.get_running_loop()
        limit = self._max_message_size
        for message in messages:
            if limit is not None and len(message.body) > limit:
                loop.call_soon(settle, message, message.attempts, Unpublishable(
                    f"{len(message.body)} bytes, over the broker's max_message_size ({limit})"))
                continue
            task: asyncio.Task[object] = loop.create_task(
                self._basic_publish(channel, message, wait=False))
            self._public_tasks.add(task)
            task.add_done_callback(partial(self._public_answer, message, message.attempts,
                                           settle, channel))

    def _basic_publish(self, channel: aiormq.abc.AbstractChannel, message: OutboundMessage,
                       *, wait: bool) -> Awaitable[object]:
        """aiormq's public basic_publish of ``message``: persistent, mandatory, with the
        properties the fast path's frames carry (frames.publish_head)."""
        properties = Basic.Properties(
            content_type=CONTENT_TYPE, delivery_mode=PERSISTENT,
            message_id=message.message_id, message_type=message.event_name,
            timestamp=dt.datetime.fromtimestamp(int(message.timestamp), dt.UTC),
            app_id=APP_ID)
        exchange, routing_key = self.destination(message)
        return channel.basic_publish(bytes(message.body), exchange=exchange,
                                     routing_key=routing_key, properties=properties,
                                     mandatory=True, wait=wait)

    async def publish_alone(self, message: OutboundMessage) -> Outcome:
        """``message`` through aiormq's basic_publish on a channel with confirms of its own,
        opened for it and closed after (a refusal closes the channel it comes on, and the
        publishing channel's messages in flight would fail with it); the broker's answer,
        awaited for PUBLISH_TIMEOUT at most. An unusable exchange is checked first, and a
        link status's queue declared first if its declaration was refused (declarations.py,
        ``declare_if_refused``)."""
        if not self.connected or self._connection is None:
            return self._not_connected()
        limit = self._max_message_size
        if limit is not None and len(message.body) > limit:
            return Unpublishable(f"{len(message.body)} bytes, over the broker's "
                                 f"max_message_size ({limit})")
        try:
            async with asyncio.timeout(self._config.publish_timeout):
                exchange = self.destination(message)[0]
                if exchange in self._unusable \
                        and (unusable := await self.check_exchange(exchange)) is not None:
                    return unusable
                if message.link_id is not None:
                    await self._link_queues.declare_if_refused(message.link_id)
                channel = await aio_pika.Channel(self._connection, publisher_confirms=True)
        except TransportError as exc:
            return exc
        except _BROKER_ERRORS as exc:
            return TransportError(f"cannot open a channel to {self.description}: "
                                  f"{self._scrub(exc)}")
        try:
            async with asyncio.timeout(self._config.publish_timeout):
                underlay = await channel.get_underlay_channel()
                return self._outcome(message, await self._basic_publish(underlay, message,
                                                                        wait=True))
        except TimeoutError:
            return TransportError(f"no answer from {self.description} to message "
                                  f"{message.message_id} in {self._config.publish_timeout}s")
        except _BROKER_ERRORS as exc:  # a nack (DeliveryError) too: _outcome tells them apart
            return self._refused_as_too_large(message, exc) or self._outcome(message, exc)
        finally:
            await self._close_quietly(channel)

    def _public_answer(self, message: OutboundMessage, attempt: int, settle: Settle,
                       channel: aiormq.abc.AbstractChannel, task: asyncio.Task[object]) -> None:
        self._public_tasks.discard(task)
        if task.cancelled():
            outcome: Outcome = TransportError(f"publish of {message.message_id} cancelled")
        else:
            error = task.exception()
            if isinstance(error, aiormq.exceptions.ChannelInvalidStateError):
                # Sent after the channel closed: what closed it says why, as _channel_closed
                # says it for the confirms it cut off (another message's exchange refused, or
                # one too large: no alarm of the whole broker's).
                error = _closed_by(channel) or error
            if error is not None and channel is self._retired:  # as in _channel_closed
                outcome = PublishOutcome.REJECTED
            else:
                outcome = self._refused_as_too_large(message, error) \
                    or self._outcome(message, error if error is not None else task.result())
        settle(message, attempt, outcome)

    def _refused_as_too_large(self, message: OutboundMessage, error: BaseException | None
                              ) -> Outcome | None:
        """When the broker closed the channel over a message larger than its
        max_message_size (406): the limit is remembered; Unpublishable for any message over
        it, and for the others in flight a TransportError that raises no alarm (they are sent
        again at once). None for any other reason."""
        too_large = _TOO_LARGE.search(str(error)) \
            if isinstance(error, aiormq.exceptions.ChannelPreconditionFailed) else None
        if too_large is None:
            return None
        self._max_message_size = limit = int(too_large[2])
        if len(message.body) > limit:
            return Unpublishable(f"{len(message.body)} bytes, over the broker's "
                                 f"max_message_size ({limit})")
        return TransportError(f"the broker closed the channel over a message too large for "
                              f"its max_message_size: {self._scrub(error)}", outage=False)

    def _heads(self, number: int, messages: Sequence[OutboundMessage], settle: Settle
               ) -> tuple[list[bytes], list[OutboundMessage]]:
        """Each message's method and header frames, and the messages that have them. One
        over the broker's max_message_size (learned from its refusal) or with a property
        that cannot be encoded is settled Unpublishable, soon, on its own."""
        heads: list[bytes] = []
        sending: list[OutboundMessage] = []
        limit = self._max_message_size
        for message in messages:
            try:
                if limit is not None and len(message.body) > limit:
                    raise Unpublishable(f"{len(message.body)} bytes, over the broker's "
                                        f"max_message_size ({limit})")
                exchange, routing_key = self.destination(message)
                heads.append(publish_head(
                    number, exchange=exchange, routing_key=routing_key,
                    body_size=len(message.body), message_id=message.message_id,
                    timestamp=int(message.timestamp), message_type=message.event_name))
            except (Unpublishable, ValueError) as exc:
                problem = exc if isinstance(exc, Unpublishable) \
                    else Unpublishable(f"cannot be encoded: {exc}")
                asyncio.get_running_loop().call_soon(settle, message, message.attempts,
                                                     problem)
                continue
            sending.append(message)
        return heads, sending

    def _channel_closed(self, channel: aiormq.Channel, closing: asyncio.Future[object]) -> None:
        """The channel (or its connection) closed: no answer will come to what waits. When
        the broker closed it over one message too large for its max_message_size (406), that
        one is Unpublishable and the limit is remembered; the others are retried."""
        error = _closing_error(closing)
        reason: Outcome = self._failure(f"the channel to {self.description} closed", error)
        if channel is self._retired:  # _renew_channel's: it refused all, the rest is retried
            reason = PublishOutcome.REJECTED
        waiting = [confirmation for confirmation in channel.confirmations.values()
                   if isinstance(confirmation, _Confirmation) and not confirmation.done()]
        channel.confirmations.clear()
        for confirmation in waiting:
            confirmation.answer(self._refused_as_too_large(confirmation.message, error)
                                or reason)

    def _outcome(self, message: OutboundMessage, result: object) -> Outcome:
        """What aiormq's reader set on a confirmation, as an outcome for the publisher."""
        if isinstance(result, aiormq.exceptions.DeliveryError):  # a nack, or a return raised
            self._note_refused(message)
            return PublishOutcome.REJECTED
        if isinstance(result, BaseException):
            return self._failure(f"publish to {self.destination(message)[0]!r} failed", result)
        if self._refused_since:  # the broker takes the route's messages again
            self._refused_since.pop(self.destination(message), None)
        if isinstance(result, DeliveredMessage):
            return PublishOutcome.RETURNED
        return PublishOutcome.CONFIRMED

    def _note_refused(self, message: OutboundMessage) -> None:
        """A nack. Once the broker has refused every message of one route (exchange and
        routing key: the same queues) for RETRY_INTERVAL, retries included, publishing goes
        on a new channel - once for such a spell: RabbitMQ 3.10 refuses for good on a channel
        whose first publish to a quorum queue came while the queue's leader was lost (its
        node had just died: after a kill of the node the producer and the leader shared, its
        new connection's first channel), and takes them at once on a new channel of the same
        connection (measured on 3.10.8, docs/operating.rst); the channel's other routes, to
        other queues, go on being confirmed meanwhile. A queue of the operator's that refuses
        (full, reject-publish) goes on refusing: nothing more is done for it until the broker
        confirms its route again.

        A refusal after a pause in the route's refusals (twice RETRY_INTERVAL: the retries
        of a refused message come every RETRY_INTERVAL at most) begins a spell of its own: a
        link's status queue refuses a status while it holds an unread one, by design, and two
        such refusals a minute apart were taken for a minute of refusals (a real kytosd)."""
        route, now = self.destination(message), time.monotonic()
        retry_interval = self._config.retry_interval
        since, last = self._refused_since.get(route, (now, now))
        if now - last > 2 * retry_interval:
            since = now
        self._refused_since[route] = (since, now)
        if since >= self._renewed_at and now - since >= retry_interval:
            self._renewed_at, self._renew = now, True
            log.warning("mq_producer: %s has refused every message to exchange %r with routing "
                        "key %r for %.0fs: publishing on a new channel (RabbitMQ refuses for "
                        "good on a channel that first published to a quorum queue while the "
                        "queue's leader was lost)", self.description, route[0], route[1][:200],
                        now - since)
        if len(self._refused_since) > MAX_REFUSED_ROUTES:  # keys are not a closed set
            self._refused_since.clear()

    async def _open_channel(self) -> None:
        """The channel to publish on, with publisher confirms; no refusal seen on it yet."""
        assert self._connection is not None
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._underlay = await self._channel.get_underlay_channel()
        self._fast = self._fast_path_usable(self._underlay)
        self._renew = False

    async def _renew_channel(self) -> None:
        """Publish on a new channel of the same connection from now on (``_note_refused``);
        the old one is closed, and what still waited on it counts as refused (retried)."""
        old, self._retired = self._channel, self._underlay
        try:
            await self._open_channel()
        except _BROKER_ERRORS as exc:
            raise TransportError(f"cannot open a channel to {self.description}: "
                                 f"{self._scrub(exc)}") from None
        if old is not None:
            await self._close_quietly(old)

    def abandon(self) -> None:
        """Sync, when Kytos stops. Core stops its loop in this same turn of the loop, right
        after the NApps' shutdown() (kytos/core/controller.py stop_controller), and kytosd
        then closes it: nothing scheduled from here would run, aiormq's own close included
        (it takes turns). So all of it is done now, for this connection only:

        - Connection.Close goes to the socket at once (a selector transport sends in write()
          when nothing else waits to go), and the transport is closed: the broker sees the
          client close the connection, not "client unexpectedly closed TCP connection". The
          socket itself goes with the process.
        - What aiormq keeps for the connection and its channels (its future store: reader,
          writer and heartbeat tasks, each channel's reader, RPCs waiting) is cancelled, and
          asyncio told not to report those tasks as destroyed while pending; an RPC's task
          created in this turn never starts, and its coroutine is closed (tasks.cancel). With the
          connection and channels closed (their ``closing`` futures cancelled), the writer's
          transport closed and what each task awaits cancelled, their ``finally`` clauses,
          run when the garbage collector closes them after loop.close(), need no loop (they
          raised "Event loop is closed"). Our own tasks (link queue declarations, the public
          path's publishes) go the same way.

        aiormq internals used (tests/unit/test_kytosd_stop_contract.py pins them):
        ``Connection._writer_task`` and the ``writer`` local of its coroutine, and the future
        store of ``aiormq.base.Base``. Where they are missing, the Close is not sent (the
        broker then logs an unexpected close) and the tasks are left to the garbage collector.
        """
        self._link_queues.stop(for_good=True)
        for task in self._public_tasks:
            cancel(task, for_good=True)
        connection = self._forget_connection()
        underlay = getattr(getattr(connection, "transport", None), "connection", None)
        if underlay is None:
            return
        writer = _stream_writer(underlay)
        if writer is not None:
            close = Connection.Close(reply_code=200, reply_text="Kytos is stopping",
                                              class_id=0, method_id=0)
            with contextlib.suppress(*_BROKER_ERRORS):
                writer.write(amqp_frame.marshal(close, 0))
                if writer.transport.get_write_buffer_size():
                    log.warning("mq_producer: Connection.Close to %s could not be sent as "
                                "Kytos stopped (the socket was busy): the broker logs an "
                                "unexpected close", self.description)
            writer.close()
        held = list(getattr(getattr(underlay, "_Base__future_store", None), "futures", ()))
        for item in held:  # first: the connection and its channels are closed from now on
            if isinstance(item, asyncio.Future) and not isinstance(item, asyncio.Task):
                item.cancel()
        for item in held:
            task = getattr(item, "task", item)
            if isinstance(task, asyncio.Task):
                cancel(task, for_good=True)

    async def close(self) -> None:
        """Drop the connection (bounded wait); the next connect() starts afresh."""
        connection = self._forget_connection()
        if connection is not None:
            await self._close_quietly(connection)
        self._link_queues.stop()  # after the close: no declaration is cut off mid-way

    def _forget_connection(self) -> AbstractConnection | None:
        """Let go of the connection and of everything of it kept here (its channels, its
        socket's writer), and return it. What is kept of a connection holds all of it -
        aiormq's tasks, the socket's protocol and buffers - and a lost one would be kept
        until the next publish on the new one."""
        connection, self._connection, self._channel = self._connection, None, None
        self._underlay = self._watched_channel = None
        self._writer = self._writer_of = None
        self._purge_channel = self._purge_channel_of = None  # closed with the connection
        self._exchanges.clear()
        return connection

    async def _close_quietly(self, closable: AbstractChannel | AbstractConnection) -> None:
        if closable.is_closed:
            return
        with contextlib.suppress(*_BROKER_ERRORS):
            async with asyncio.timeout(self._close_timeout):
                await closable.close()


def _closed_by(channel: aiormq.abc.AbstractChannel | None) -> BaseException | None:
    """What closed ``channel`` or its connection: the error in the ``closing`` future of
    either, if any."""
    for closable in (channel, getattr(channel, "connection", None)):
        error = _closing_error(getattr(closable, "closing", None))
        if error is not None:
            return error
    return None


def _closing_error(closing: object) -> BaseException | None:
    """The error a done ``closing`` future of aiormq's holds, if any."""
    if isinstance(closing, asyncio.Future) and closing.done() and not closing.cancelled():
        return closing.exception()
    return None


def _stream_writer(connection: object) -> asyncio.StreamWriter | None:
    """aiormq's StreamWriter of ``connection`` (an aiormq Connection): the ``writer`` local of
    its writer task's coroutine (``Connection._writer_task``), which aiormq keeps nowhere
    else; None where that is missing, or the task has ended. The internals are pinned by
    tests/unit/test_kytosd_stop_contract.py, and the writer's take-then-write, which
    ``publish_now`` relies on, by tests/unit/test_aiormq_contract.py."""
    writer_task = getattr(connection, "_writer_task", None)  # an aiormq TaskWrapper
    writer_task = getattr(writer_task, "task", writer_task)
    frame = None
    if isinstance(writer_task, asyncio.Task) and not writer_task.done():
        frame = getattr(writer_task.get_coro(), "cr_frame", None)
    writer = frame.f_locals.get("writer") if frame is not None else None
    return writer if isinstance(writer, asyncio.StreamWriter) and not writer.is_closing() \
        else None


def _settle_multiple_acks_at_once(channel: aiormq.abc.AbstractChannel) -> None:
    """Make ``channel``'s reader settle every publish a multiple ack (or nack) confirms in the
    step that reads it, through aiormq's own ``_confirm_delivery``, instead of scheduling a
    loop callback per publish (aiormq's ``_on_confirm_frame``: in a burst, one handle on the
    loop per message). Same calls, in tag order; a frame that is not multiple, or whose tag is
    not waiting, goes to aiormq's own method. Installed on the instance, which the reader
    calls by attribute (tests/unit/test_aiormq_contract.py pins both); left out, with
    aiormq's way kept, where the internals are not there."""
    own = getattr(channel, "_on_confirm_frame", None)
    confirm = getattr(channel, "_confirm_delivery", None)
    confirmations = getattr(channel, "confirmations", None)
    if not (callable(own) and callable(confirm) and isinstance(confirmations, dict)):
        return

    async def on_confirm_frame(frame: Basic.Ack | Basic.Nack) -> None:
        if not getattr(frame, "multiple", False) or frame.delivery_tag not in confirmations:
            await own(frame)
            return
        last = frame.delivery_tag
        for tag in [tag for tag in confirmations if tag <= last]:  # a copy: each is popped
            confirm(tag, frame)

    channel._on_confirm_frame = on_confirm_frame


class _Confirmation:
    """What ``channel.confirmations`` holds for one of our publishes, in place of the asyncio
    Future aiormq's basic_publish puts there: its reader calls ``done()``, ``set_result()``
    (an ack, or the returned message) and ``set_exception()`` (a nack) on it, and the message
    is settled right there. A Future would cost four done-callbacks, each a handle of its own
    on the loop: a multiple ack for 256 messages ran over 1,000 callbacks in one turn of the
    loop, and the machinery took about 20 us a message against 2 (a /tmp micro-benchmark).
    """

    __slots__ = ("_attempt", "_channel", "_message", "_settle", "_tag", "_transport")

    def __init__(self, transport: AmqpTransport, channel: aiormq.Channel, tag: int,
                 message: OutboundMessage, attempt: int, settle: Settle) -> None:
        self._transport: AmqpTransport | None = transport  # None once answered
        self._channel, self._tag, self._message = channel, tag, message
        self._attempt, self._settle = attempt, settle

    @property
    def message(self) -> OutboundMessage:
        return self._message

    def done(self) -> bool:
        return self._transport is None

    def cancelled(self) -> bool:
        return False

    def set_result(self, result: object) -> None:
        self.answer(result)

    def set_exception(self, error: BaseException) -> None:
        self.answer(error)

    def answer(self, result: object) -> None:
        transport, self._transport = self._transport, None
        if transport is None:
            return
        message = self._message
        tags = self._channel.message_id_delivery_tag
        if tags.get(message.message_id) == self._tag:
            del tags[message.message_id]
        outcome = result if isinstance(result, TransportError | Unpublishable | PublishOutcome) \
            else transport._outcome(message, result)
        try:
            self._settle(message, self._attempt, outcome)
        except Exception:  # we run inside aiormq's reader: a bug here must not stop it
            log.exception("mq_producer: settling message %s failed", message.message_id)
