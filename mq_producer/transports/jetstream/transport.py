"""The NATS JetStream transport on nats-py: JetStream publish acks are the confirms.

The only module that imports the NATS client library. Each exchange of ROUTES is a stream capturing
``<exchange>.>`` (names and subjects: see subjects.py), created when missing; a message goes
to ``<exchange>.<routing key>`` with the envelope as its body and its message id in the
``Nats-Msg-Id`` header, so a retry within the stream's duplicate window is stored once.

Link status continuity uses one more stream for LINK_STATUS.exchange, a work queue holding at
most one message per subject (``<exchange>.<link id>``) that refuses the next one
(DiscardNewPerSubject, nats-server 2.9+) until a consumer has acked - i.e. removed - the
message it holds: the same broker-side refusal as the AMQP per-link queue with
reject-publish, reported as REJECTED.

The connection does not reconnect by itself (``allow_reconnect=False``): a lost connection is
reported through ``on_lost`` and the publisher's retry loop calls ``connect()`` again, which
opens a new one and checks every stream again.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from ...config import ProducerConfig
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
from .settings import JetStreamOptions, NatsSettings
from .subjects import Destination, destinations_for, subject

log = logging.getLogger("kytos.napps.kytos/mq_producer")

# nats-server's JSStreamStoreFailedF: "maximum messages per subject exceeded" (the link
# status stream's DiscardNewPerSubject), "maximum messages exceeded", ...
_STORE_FAILED = 10077
# nats-server's JSStreamMessageExceedsMaximumErr: over the stream's max_msg_size (a limit an
# operator set on a stream of their own): no retry can help.
_OVER_MAX_MSG_SIZE = 10054
# How nats-server words a subject the account may not publish or subscribe to.
_PERMISSIONS_VIOLATION = "permissions violation"
# What the client raises when the server is gone, the connection closed or stalled.
_NATS_ERRORS = (nats.errors.Error, OSError, asyncio.TimeoutError)

T = TypeVar("T")


class JetStreamTransport:
    def __init__(self, config: ProducerConfig, server: NatsSettings,
                 options: JetStreamOptions) -> None:
        self._config = config
        self._server = server
        self._options = options
        self._close_timeout = min(config.publish_timeout, 2.0)
        names = [*config.router.exchanges]
        self._link_exchange = config.link_status.exchange if config.link_status.enabled \
            else None
        if self._link_exchange is not None:
            names.append(self._link_exchange)
        self._destinations: dict[str, Destination] = destinations_for(names)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lost: asyncio.Future[str] | None = None  # resolved when this connection ends
        self._verified = False
        self._states: dict[str, str] = {}
        self._lost_callbacks: list[Callable[[str], None]] = []
        self._publishes: set[asyncio.Task[PublishOutcome]] = set()
        # nats-py's publish of each, which _publish_one awaits through asyncio.wait (whose
        # future mq_producer.tasks cannot follow to it): ended by abandon() with ours.
        self._attempts: set[asyncio.Future[object]] = set()
        self._stream_checks: dict[str, asyncio.Future[bool | None]] = {}  # _stream_check
        self._unusable: dict[str, ExchangeError] = {}  # streams connect() could not use
        self._oversize_logged: set[str] = set()
        self._permissions_said: set[str] = set()  # permission violations logged
        self._told_amqp_only = False

    @property
    def description(self) -> str:
        return self._server.display

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected and self._verified

    @property
    def destinations(self) -> dict[str, str]:
        return dict(self._states)

    @property
    def queues(self) -> dict[str, str]:
        return {}  # JetStream has streams (see destinations), no queues

    def on_lost(self, callback: Callable[[str], None]) -> None:
        self._lost_callbacks.append(callback)

    def destination(self, message: OutboundMessage) -> tuple[str, str]:
        return message.exchange, message.routing_key  # a link status too: its stream

    @property
    def status_copies(self) -> bool:
        return False  # the status stream is the links' destination itself (one per subject)

    async def purge_status(self, link_id: str) -> int | None:
        return None  # a refused status is offered again after RETRY_INTERVAL

    def declare_again(self, link_id: str) -> bool:
        """Never: nothing is declared per link (the stream is checked by connect())."""
        return False

    def ready(self, message: OutboundMessage) -> bool:
        """Always: the link status stream is checked with the others by connect()."""
        return True

    def on_ready(self, callback: Callable[[str], None]) -> None:
        """Never called: ready() is always True."""

    def on_blocked(self, callback: Callable[[str | None], None]) -> None:
        """NATS has no such notice: a server over its limits answers publishes with errors."""

    def _scrub(self, error: BaseException | str) -> str:
        """An error's text without the password or token, whatever the library put in it."""
        if isinstance(error, str):
            text = error
        else:
            text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        for secret in self._server.secrets():
            text = text.replace(secret, "***")
        return text

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        if self._nc is None or self._nc.is_closed:
            await self._open()
        elif not self._nc.is_connected:
            raise TransportError(f"reconnecting to {self.description}")
        self._verified = False  # not connected until every stream is checked
        self._stream_checks.clear()
        self._unusable.clear()
        for exchange, dest in self._destinations.items():
            self._states[exchange] = "checking"
            # One that cannot be used does not fail the connection: its messages wait.
            await check_into(self._unusable, exchange, self._check_stream(dest))
        self._verified = True
        if not self._told_amqp_only and self._config.queues:
            self._told_amqp_only = True
            log.info("mq_producer: QUEUES and DEAD_LETTER are AMQP settings, not used with "
                     "JetStream: every stream keeps its messages (up to JETSTREAM max_msgs) "
                     "for consumers that connect later")

    async def _open(self) -> None:
        nc = Client()
        lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        server = self._server

        async def on_disconnected() -> None:
            if nc is self._nc:
                self._connection_lost(nc)

        errors: list[Exception] = []  # the client's, the last one last

        async def on_error(error: Exception) -> None:  # the client's own line per error
            errors[:] = [error]
            text = self._scrub(error)
            if _PERMISSIONS_VIOLATION in text:  # the server says why nothing is answered
                self._say_permission(text)
            else:
                log.debug("mq_producer: NATS client: %s", text)

        try:
            await nc.connect(
                servers=[server.server], name="kytos/mq_producer",
                user=server.username,
                password=server.password.reveal() if server.password else None,
                token=server.token.reveal() if server.token else None,
                # No timeout of its own: nats-py's wait_for would run the handshake's reads in
                # tasks that a stop of Kytos mid-attempt could not reach; the publisher bounds
                # the whole connect() by PUBLISH_TIMEOUT.
                allow_reconnect=False, connect_timeout=None,
                # Two tries in a row, then it gives up: by default nats-py tried a refused
                # server for two minutes, every 2 s, and the publisher only saw "no answer"
                # (PUBLISH_TIMEOUT later); its own loop retries, at once when refused.
                max_reconnect_attempts=1, reconnect_time_wait=0,
                ping_interval=self._config.heartbeat, max_outstanding_pings=2,
                error_cb=on_error, disconnected_cb=on_disconnected, closed_cb=on_disconnected)
        except _NATS_ERRORS as exc:
            await self._close_quietly(nc)
            # "no servers available": the reason is the last error of the tries.
            cause = errors[-1] if isinstance(exc, nats.errors.NoServersError) and errors \
                else exc
            raise TransportError(f"cannot connect to {self.description}: "
                                 f"{self._scrub(cause)}",
                                 nobody_listening=isinstance(cause, ConnectionRefusedError)
                                 ) from None
        except asyncio.CancelledError:  # the publisher gave up waiting: leave nothing behind
            await self._close_quietly(nc)
            raise
        self._nc, self._js, self._lost = nc, nc.jetstream(
            timeout=self._config.publish_timeout), lost

    def _say_permission(self, text: str) -> None:
        """A permission the account lacks: nats-py drops the request, so the publisher sees
        no answer; this line says why (once per subject and operation)."""
        if text in self._permissions_said or len(self._permissions_said) >= 100:
            return
        self._permissions_said.add(text)
        log.error("mq_producer: the NATS server denies a request of %s: %s; give the "
                  "account the permissions docs/operating.rst lists (\"What differs on "
                  "JetStream\"): without them nothing is answered", self._server.username
                  or "this connection", text)

    def _connection_lost(self, nc: Client) -> None:
        if self._lost is None or self._lost.done():
            return  # reported already (disconnected and closed both call here)
        self._verified = False
        error = nc.last_error
        reason = f"connection to {self.description} lost" + (
            f": {self._scrub(error)}" if error is not None else "")
        self._lost.set_result(reason)
        for callback in self._lost_callbacks:
            callback(reason)

    async def close(self) -> None:
        """Drop the connection (bounded wait); the next connect() starts afresh."""
        nc, self._nc, self._js = self._nc, None, None
        self._verified = False
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(f"connection to {self.description} closed")
        if nc is not None:
            await self._close_quietly(nc)

    async def _close_quietly(self, nc: Client) -> None:
        if nc.is_closed:
            return
        with contextlib.suppress(*_NATS_ERRORS, RuntimeError):
            async with asyncio.timeout(self._close_timeout):
                await nc.close()

    # -- streams ---------------------------------------------------------------------------

    def _wanted(self, dest: Destination) -> StreamConfig:
        options = self._options
        common = {"name": dest.stream, "subjects": [dest.filter],
                  "storage": StorageType(options.storage), "num_replicas": options.replicas,
                  "duplicate_window": options.duplicate_window,
                  "description": f"kytos/mq_producer exchange {dest.exchange}"}
        if dest.exchange == self._link_exchange:
            # One message per link; the next is refused until a consumer acked (removed) it.
            return StreamConfig(**common, retention=RetentionPolicy.WORK_QUEUE,
                                max_msgs_per_subject=1, discard=DiscardPolicy.NEW,
                                discard_new_per_subject=True)
        return StreamConfig(**common, retention=RetentionPolicy.LIMITS,
                            max_msgs=options.max_msgs, max_bytes=options.max_bytes,
                            max_age=options.max_age, discard=DiscardPolicy.OLD)

    @staticmethod
    def _mismatch(have: StreamConfig, want: StreamConfig) -> str | None:
        """What makes an existing stream unusable; None when it fits."""
        if want.subjects and want.subjects[0] not in (have.subjects or []):
            return f"captures {have.subjects}, not {want.subjects[0]!r}"
        if want.discard_new_per_subject and not (
                have.retention == RetentionPolicy.WORK_QUEUE and have.discard_new_per_subject
                and have.discard == DiscardPolicy.NEW and have.max_msgs_per_subject == 1):
            return ("is not a work queue holding one message per subject that refuses new "
                    "ones (max_msgs_per_subject 1, discard new per subject)")
        return None

    @property
    def unusable_exchanges(self) -> dict[str, ExchangeError]:
        return dict(self._unusable)

    async def check_exchange(self, exchange: str) -> ExchangeError | None:
        if self._js is None:
            raise TransportError(f"not connected to {self.description}")
        return await check_into(self._unusable, exchange,
                                self._check_stream(self._destinations[exchange]))

    async def _check_stream(self, dest: Destination) -> None:
        """Look the stream up; create it when missing; refuse one that does not fit."""
        assert self._js is not None
        want = self._wanted(dest)
        try:
            info = await self._js.stream_info(dest.stream)
        except nats.js.errors.NotFoundError:
            info = None
        except _NATS_ERRORS as exc:
            self._states[dest.exchange] = "unknown"
            raise await self._api_failure(f"look up stream {dest.stream!r}", exc) from None
        if info is None:
            try:
                await self._js.add_stream(want)
            except nats.js.errors.BadRequestError as exc:  # e.g. subjects overlap
                self._states[dest.exchange] = "missing"
                raise ExchangeError(dest.exchange, f"cannot create JetStream stream "
                                    f"{dest.stream!r} for {dest.filter}: {exc.description}"
                                    ) from None
            except _NATS_ERRORS as exc:
                self._states[dest.exchange] = "unknown"
                raise await self._api_failure(f"create stream {dest.stream!r}", exc) from None
            log.info("mq_producer: created JetStream stream %r (%s) for exchange %r",
                     dest.stream, dest.filter, dest.exchange)
        else:
            problem = self._mismatch(info.config, want)
            if problem is not None:
                self._states[dest.exchange] = "mismatch"
                raise ExchangeError(dest.exchange, f"JetStream stream {dest.stream!r} exists "
                                    f"but {problem}: delete it or change ROUTES / LINK_STATUS")
        self._states[dest.exchange] = "ok"

    async def _api_failure(self, what: str, exc: BaseException) -> TransportError:
        if isinstance(exc, nats.errors.NoRespondersError) or (
                isinstance(exc, nats.js.errors.ServiceUnavailableError) and exc.code is None):
            # nats-py turns "no responders" to $JS.API into a bare ServiceUnavailableError
            return TransportError(f"cannot {what}: JetStream is not enabled (or not "
                                  f"available) on {self.description} (no answer to $JS.API)")
        if isinstance(exc, asyncio.TimeoutError):
            await self.close()  # a stalled connection is replaced, not reused
            return TransportError(f"cannot {what}: no answer from {self.description} in "
                                  f"{self._config.publish_timeout}s")
        if isinstance(exc, nats.js.errors.APIError):
            return TransportError(f"cannot {what}: {exc.description} (code {exc.code}, "
                                  f"err_code {exc.err_code})")
        return TransportError(f"cannot {what}: {self._scrub(exc)}")

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, messages: Sequence[OutboundMessage], settle: Settle) -> None:
        """One task per message awaits its JetStream ack (the client has no pipelined
        publish with acks); each ends by settling its message."""
        self.publish_now(messages, settle)

    async def publish_alone(self, message: OutboundMessage) -> Outcome:
        """A publish that awaits its own ack, as each of ``publish``'s does; its stream
        checked first when it is unusable."""
        try:
            if message.exchange in self._unusable \
                    and (unusable := await self.check_exchange(message.exchange)) is not None:
                return unusable
            return await self._publish_one(message)
        except (TransportError, Unpublishable) as exc:
            return exc

    def can_publish_now(self) -> bool:
        return self.connected  # publish() never awaits

    def answers_wanted(self) -> None:
        """Nothing to do: each ack is awaited by its publish's own task, never held."""

    def publish_now(self, messages: Sequence[OutboundMessage], settle: Settle) -> None:
        if not self.connected:
            raise TransportError(f"not connected to {self.description}")
        for message in messages:
            task = asyncio.get_running_loop().create_task(self._publish_one(message))
            self._publishes.add(task)
            task.add_done_callback(partial(self._answered, message, message.attempts, settle))

    def _answered(self, message: OutboundMessage, attempt: int, settle: Settle,
                  task: asyncio.Task[PublishOutcome]) -> None:
        self._publishes.discard(task)
        if task.cancelled():
            settle(message, attempt, TransportError(f"publish to {message.exchange!r} "
                                                    "cancelled"))
        elif isinstance(error := task.exception(), TransportError | Unpublishable):
            settle(message, attempt, error)
        elif error is not None:  # a bug: logged, and the message is retried
            log.error("mq_producer: publishing %s failed unexpectedly", message.message_id,
                      exc_info=error)
            settle(message, attempt, TransportError(f"publish to {message.exchange!r} "
                                                    f"failed: {type(error).__name__}"))
        else:
            settle(message, attempt, task.result())

    def abandon(self) -> None:
        """Sync, when Kytos stops: its loop stops in this same turn and is then closed, so
        nothing scheduled from here would run, nats-py's own close included. So: our
        publishes still awaiting an ack are cancelled for good (mq_producer.tasks), and so
        are nats-py's publishes and stream lookups they wait for, our stream checks, and the
        client's tasks for this connection - its reader, pinger and flusher, and each
        subscription's (the publish acks') - whose coroutines, closed by the garbage
        collector after loop.close(), printed "Event loop is closed" at Kytos' exit; then
        the socket is closed. nats-py internals used
        (tests/unit/test_kytosd_stop_contract.py pins them):
        ``Client._reading_task``, ``_ping_interval_task``, ``_flusher_task``, ``_subs``,
        ``Subscription._wait_for_msgs_task`` and ``Client._transport``; one that is missing
        is left to the garbage collector."""
        for task in [*self._attempts, *self._stream_checks.values(), *self._publishes]:
            cancel(task, for_good=True)  # type: ignore[arg-type]
        nc, self._nc, self._js = self._nc, None, None
        self._verified = False
        if nc is None:
            return
        subscriptions = getattr(nc, "_subs", {})
        tasks = [getattr(nc, name, None)
                 for name in ("_reading_task", "_ping_interval_task", "_flusher_task")]
        tasks += [getattr(sub, "_wait_for_msgs_task", None) for sub in subscriptions.values()]
        for task in tasks:
            if isinstance(task, asyncio.Task):
                cancel(task, for_good=True)
        transport = getattr(nc, "_transport", None)
        if transport is not None:
            with contextlib.suppress(*_NATS_ERRORS, RuntimeError):
                transport.close()

    async def _publish_one(self, message: OutboundMessage) -> PublishOutcome:
        dest = self._destinations.get(message.exchange)
        js, lost = self._js, self._lost
        if dest is None or js is None or lost is None or not self.connected:
            raise TransportError(f"not connected to {self.description}")
        headers = {"Nats-Msg-Id": message.message_id, "Content-Type": "application/json",
                   "Kytos-Event": message.event_name,
                   "Kytos-Timestamp": str(int(message.timestamp)),
                   "Kytos-App-Id": "kytos/mq_producer"}
        attempt = await self._until_lost(js.publish(
            subject(dest, message.routing_key), message.body,
            timeout=self._config.publish_timeout, stream=dest.stream, headers=headers), lost)
        if attempt is None:
            raise TransportError(f"publish to {message.exchange!r} failed: {lost.result()}")
        try:
            attempt.result()
        except nats.js.errors.NoStreamResponseError:
            self._verified = False  # connect() checks (and re-creates) the streams
            if await asyncio.shield(self._stream_check(js, dest, lost)) is not False:
                # A clean stop of nats-server shuts JetStream down before it closes the
                # connections: no stream answers then, and JetStream neither.
                raise TransportError(f"publish to {message.exchange!r} failed: JetStream "
                                     f"answers neither for {dest.filter} nor about stream "
                                     f"{dest.stream!r} (the server stopping?)") from None
            self._states[message.exchange] = "missing"
            raise TransportError(f"publish to {message.exchange!r} failed: no JetStream "
                                 f"stream takes {dest.filter} (stream {dest.stream!r} "
                                 "deleted)", refused=True) from None
        except nats.js.errors.APIError as exc:
            if exc.err_code == _STORE_FAILED and "exceeded" in (exc.description or ""):
                return PublishOutcome.REJECTED  # a full link status subject (or stream)
            if exc.err_code == _OVER_MAX_MSG_SIZE:
                raise Unpublishable(f"{len(message.body)} bytes, over the max_msg_size of "
                                    f"stream {dest.stream!r} ({exc.description})") from None
            raise TransportError(f"publish to {message.exchange!r} refused: "
                                 f"{exc.description} (err_code {exc.err_code})",
                                 refused=True) from None
        except nats.errors.MaxPayloadError:
            self._log_oversize(message)
            return PublishOutcome.REJECTED
        except _NATS_ERRORS as exc:
            raise TransportError(f"publish to {message.exchange!r} failed: "
                                 f"{self._scrub(exc)}") from None
        return PublishOutcome.CONFIRMED

    async def _until_lost(self, request: Awaitable[T], lost: asyncio.Future[str]
                          ) -> asyncio.Future[T] | None:
        """nats-py's ``request``, done, or None when the connection ended first: the client
        does not fail a request then. Until it ends, abandon() can reach it."""
        attempt = asyncio.ensure_future(request)
        self._attempts.add(attempt)
        attempt.add_done_callback(self._attempts.discard)
        try:
            done, _ = await asyncio.wait({attempt, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not attempt.done():
                attempt.cancel()
        return attempt if attempt in done else None

    def _stream_check(self, js: JetStreamContext, dest: Destination,
                      lost: asyncio.Future[str]) -> asyncio.Future[bool | None]:
        """Whether JetStream has ``dest``'s stream (None: no answer), asked once per stream
        and connection however many publishes found no stream (connect() asks anew)."""
        check = self._stream_checks.get(dest.stream)
        if check is None:
            check = asyncio.ensure_future(self._stream_exists(js, dest, lost))
            self._stream_checks[dest.stream] = check
        return check

    async def _stream_exists(self, js: JetStreamContext, dest: Destination,
                             lost: asyncio.Future[str]) -> bool | None:
        answer = await self._until_lost(js.stream_info(dest.stream), lost)
        if answer is None:
            return None
        try:
            answer.result()
        except nats.js.errors.NotFoundError:
            return False
        except _NATS_ERRORS:
            return None
        return True

    def _log_oversize(self, message: OutboundMessage) -> None:
        if message.exchange in self._oversize_logged:
            return
        self._oversize_logged.add(message.exchange)
        limit = self._nc.max_payload if self._nc is not None else "?"
        log.error("mq_producer: message %s (%s, %d bytes) exceeds the NATS server's "
                  "max_payload (%s bytes): refused, offered again every RETRY_INTERVAL; "
                  "raise max_payload in nats-server's configuration (logged once per "
                  "exchange)", message.message_id, message.event_name, len(message.body),
                  limit)
