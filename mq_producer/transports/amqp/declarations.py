"""The interdomain links' status queues, declared in the background (issue 14, case 5).

A link status message goes to its link's queue alone (``LINK_STATUS.queue_prefix`` + link id,
x-max-length 1, reject-publish, bound with the link id to the queues exchange
``<queue_prefix>queues``), which must be declared and bound before the message is published,
or the broker returns the message as unroutable. The queue is not bound to
``LINK_STATUS.exchange``: that exchange carries one copy of each accepted status for other
consumers (publisher.py), which the link's queue must not receive. The binding there that an
earlier version made is removed once per run, after the queue is ready.

Declaring used to happen inside ``publish()``, one queue at a time on a throwaway
channel each, under the publisher's PUBLISH_TIMEOUT, and was forgotten on reconnecting: at an
80 ms round trip, 64 new interdomain links kept anything from being confirmed. Here:

- Every link queue ever needed is remembered (those of ``LINK_STATUS.link_ids`` from the
  start, the others from their link's first status message), and after each (re)connection
  all of them are declared again, in the background: a broker may have lost them, and an
  exchange created again has lost its bindings.
- One task declares them on one long-lived declaration channel - never inside ``publish()``,
  never under the publisher's stall timer. A refusal closes the channel it ran on: it is then
  reopened, as a plain ``aio_pika.Channel`` (a robust channel the broker closes reopens
  itself, and stayed open, unused, for good).
- Declarations are pipelined: a batch of up to BATCH queues goes out as no-wait Queue.Declare
  and Queue.Bind methods, the batch's last Queue.Bind waiting for the broker's answer. The
  broker runs a channel's methods in order and closes the channel at the first that fails,
  so that one answer settles the whole batch. A batch that fails is declared again in SPLIT
  parts, and so on, until the failing queue stands alone: the answer to a batch of one is
  that queue's outcome. A queue that failed is declared alone after the next reconnection.
  aiormq runs one synchronous method at a time per channel (its channel lock), so waiting for
  each answer costs a round trip per method. Measured through a latency proxy at 80 ms round
  trip (tests/support/latency_proxy.py), 200 new queues: 0.7 s pipelined in one batch; 35 s
  one at a time (declare, then bind); 4.6 s one at a time on 8 channels in parallel.
- ``ready(link_id)`` says whether the link's queue has been declared on this connection - or
  its declaration was answered with a refusal (no permission, other arguments, the exchange
  missing): the link's messages are then published all the same, as before, and come back
  as unroutable where no queue is bound (``returned``). Until then the publisher holds the
  link's status messages back in their own lane; ``on_ready`` tells it when to let them go.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

import aio_pika
import aiormq
import pamqp.commands
from aio_pika.abc import AbstractChannel, AbstractConnection

from ...config import QueueSpec
from ...tasks import cancel

log = logging.getLogger("kytos.napps.kytos/mq_producer")

BATCH = 64  # queues declared in one pipelined batch (two methods each)
SPLIT = 8  # a batch that fails is declared again in this many parts
REOPEN_DELAY = 1.0  # seconds before trying again when the channel cannot be opened

# What the client raises when the broker closed the channel or the connection went.
_ERRORS = (aiormq.exceptions.AMQPError, aio_pika.exceptions.AMQPException, ConnectionError,
           OSError, TimeoutError, RuntimeError)
# A channel error: the broker refused a method of the batch (and closed the channel).
_OUTCOMES: dict[type[BaseException], str] = {
    aiormq.exceptions.ChannelNotFoundEntity: "missing",
    aiormq.exceptions.ChannelAccessRefused: "refused",
    aiormq.exceptions.ChannelPreconditionFailed: "mismatch",
}


def _alive(connection: AbstractConnection) -> bool:
    return not connection.is_closed and connection.connected.is_set()


def _refusal(reason: BaseException | None) -> bool:
    """Whether the broker closed the channel on a method (not the client, not a lost link)."""
    return isinstance(reason, aiormq.exceptions.ChannelClosed) and not (
        type(reason) is aiormq.exceptions.ChannelClosed and reason.args[:1] == (None,))


def _has_room(queue: asyncio.Queue[object]) -> bool:
    """As transport.py's: leave aiormq's writer a slot for a Channel.CloseOk."""
    return queue.maxsize <= 0 or queue.qsize() < max(queue.maxsize - 1, 1)


async def _room_in(queue: asyncio.Queue[object]) -> None:
    turns = 0
    while not _has_room(queue):  # aiormq's writer takes a frame per turn of the loop
        turns += 1
        await asyncio.sleep(0 if turns < 16 else 0.001)


class LinkQueues:
    """The link queues' states and their declaration task, for one transport."""

    def __init__(self, spec: Callable[[str], QueueSpec],
                 state_of: Callable[[str], str], scrub: Callable[[BaseException], str],
                 old_exchange: str) -> None:
        self._spec = spec  # link id -> its queue
        self._old_exchange = old_exchange  # where an earlier version bound the queues
        self._state_of = state_of  # "ok", "missing", "refused", "mismatch" -> status text
        self._scrub = scrub
        self._ready: dict[str, bool] = {}  # every link queue needed -> declared on this connection
        self.states: dict[str, str] = {}  # queue name -> its state (v1/status "queues")
        self._failed: dict[str, str] = {}  # queue name -> the failure last logged
        self._queued: deque[str] = deque()  # link ids to declare, batched BATCH at a time
        self._parts: deque[list[str]] = deque()  # declared first: parts of failed batches
        self._callbacks: list[Callable[[str], None]] = []
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None  # strong reference; on _channel_of
        self._channel_of: AbstractConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._generation = 0  # restart() makes the answers to earlier batches moot
        self._unbound: set[str] = set()  # links whose queue lost an earlier version's binding
        self._to_unbind: deque[str] = deque()  # declared, not unbound yet (after declarations)

    def on_ready(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def ready(self, link_id: str) -> bool:
        """Whether the link's queue is declared (or refused) on this connection. A link seen
        for the first time joins the set for good and is queued for declaring (or is refused
        at once: see ``add``)."""
        ready = self._ready.get(link_id)
        if ready:
            return True
        if ready is None:
            self.add(link_id)
            return self._ready[link_id]
        return False

    def add(self, link_id: str) -> None:
        if link_id in self._ready:
            return
        self._ready[link_id] = False
        if not self._refused_by_the_client(link_id):
            self.states[self._spec(link_id).name] = "declaring"
            self._queued.append(link_id)
            self._start()

    def declare_again(self, link_id: str) -> bool:
        """Declare the link's queue again if it was declared on this connection (a status
        returned unroutable: the queue was deleted or unbound since); False if it was not
        (being declared, or refused: its returns are expected)."""
        name = self._spec(link_id).name
        if not self._ready.get(link_id) or name in self._failed:
            return False
        self._ready[link_id] = False
        self.states[name] = "declaring"
        self._queued.append(link_id)
        self._start()
        return True

    async def declare_if_refused(self, link_id: str) -> None:
        """Declare the link's queue now, on a channel of its own, if its declaration was
        refused on this connection: the permission it lacked may have been given since (the
        publisher tries a status alone this way after the broker refused its exchange, and
        a status published to a queue never declared comes back unroutable). Its state and
        the log as after any declaration."""
        connection = self._connection
        if self._spec(link_id).name not in self._failed or connection is None \
                or not _alive(connection):
            return
        try:
            channel = await aio_pika.Channel(connection, publisher_confirms=False)
        except _ERRORS as exc:
            log.debug("mq_producer: cannot open a channel to declare a link queue: %s",
                      self._scrub(exc))
            return
        try:
            failure = await self._declare(connection, channel, [link_id])
        except _Lost:  # declared again on the next connection
            return
        finally:
            with contextlib.suppress(*_ERRORS):
                async with asyncio.timeout(2.0):
                    await channel.close()
        self._answered(link_id, "ok" if failure is None else _OUTCOMES.get(type(failure)),
                       failure)

    def restart(self, connection: AbstractConnection) -> None:
        """(Re)connected: every link queue is declared again, in the background; those that
        failed last time one by one first, the others in batches."""
        self._connection = connection
        self._generation += 1
        self._parts.clear()
        self._queued.clear()
        self._to_unbind.clear()  # again once declared
        for link_id in self._ready:
            self._ready[link_id] = False
            if self._refused_by_the_client(link_id):
                continue
            name = self._spec(link_id).name
            self.states[name] = "declaring"
            if name in self._failed:
                self._parts.append([link_id])
            else:
                self._queued.append(link_id)
        self._start()

    def _refused_by_the_client(self, link_id: str) -> bool:
        """Whether the AMQP client refuses the link's queue name: pamqp, aiormq's encoder,
        takes letters, digits, space and ``-_.:@#,/+`` only (RabbitMQ would take any UTF-8),
        and its ValueError in a batch failed the batch's other queues too. Such a queue is
        never declared: said once (its link's statuses are published all the same, and come
        back unroutable), without callbacks (``ready`` answers it)."""
        spec = self._spec(link_id)
        try:
            pamqp.commands.Queue.Declare(queue=spec.name)
        except ValueError as exc:
            self._answered(link_id, None, ValueError(
                f"{exc}: the AMQP client takes letters, digits, space and - _ . : @ # , / + "
                "in a queue name"), callbacks=False)
            return True
        return False

    def stop(self, for_good: bool = False) -> None:
        """Sync: the connection is closed or going; cancel the task (restart() starts it).

        ``for_good`` (Kytos is stopping: its loop stops in this same turn and the task never
        runs again): asyncio is told not to report the task as destroyed while pending."""
        self._connection = self._channel = self._channel_of = None
        task, self._task = self._task, None
        cancel(task, for_good=for_good)

    def _start(self) -> None:
        if self._connection is not None and (self._task is None or self._task.done()) \
                and (self._queued or self._parts or self._to_unbind):
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="mq_producer.link_queues")

    async def _run(self) -> None:
        while self._parts or self._queued or self._to_unbind:
            connection = self._connection
            if connection is None or not _alive(connection):
                return  # restart() starts again once connected
            channel = await self._open(connection)
            if channel is None:
                if not _alive(connection):
                    return
                await asyncio.sleep(REOPEN_DELAY)
                continue
            if not (self._parts or self._queued):
                await self._unbind(channel)  # declarations first: they hold messages back
                continue
            generation = self._generation
            if self._parts:
                batch = self._parts.popleft()
            else:
                batch = [self._queued.popleft() for _ in range(min(BATCH, len(self._queued)))]
            try:
                failure = await self._declare(connection, channel, batch)
            except (asyncio.CancelledError, _Lost) as exc:
                if generation == self._generation:
                    self._parts.appendleft(batch)  # for the task restart() starts
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return
            except Exception as exc:  # a bug: the links' messages must not wait for good
                log.exception("mq_producer: declaring %d link status queues failed",
                              len(batch))
                await self._drop_channel(channel)  # what it sent may still be running
                if generation == self._generation:
                    for link_id in batch:
                        self._answered(link_id, None, exc)
                continue
            if failure is not None:  # the broker closed the channel: a fresh one next
                await self._drop_channel(channel)
            if generation != self._generation:
                continue  # restart() queued them all again
            if failure is None:
                for link_id in batch:
                    self._answered(link_id, "ok", None)
                self._to_unbind.extend(link_id for link_id in batch
                                       if link_id not in self._unbound)
            elif len(batch) > 1:
                size = -(-len(batch) // SPLIT)
                self._parts.extendleft(reversed([batch[start:start + size]
                                                 for start in range(0, len(batch), size)]))
            else:
                self._answered(batch[0], _OUTCOMES.get(type(failure)), failure)

    async def _open(self, connection: AbstractConnection) -> AbstractChannel | None:
        """The declaration channel on ``connection``, reopened when closed; None if it
        cannot be opened now."""
        channel = self._channel
        if channel is not None and not channel.is_closed and self._channel_of is connection:
            return channel
        try:
            # Not the connection's channel(): see the module's docstring.
            channel = await aio_pika.Channel(connection, publisher_confirms=False)
        except _ERRORS as exc:
            log.debug("mq_producer: cannot open the declaration channel: %s", self._scrub(exc))
            return None
        self._channel, self._channel_of = channel, connection
        return channel

    async def _drop_channel(self, channel: AbstractChannel) -> None:
        """Never write on it again (the broker closed it, or may still be running what was
        sent on it): closed if it is not, bounded; the next batch opens another."""
        if self._channel is channel:
            self._channel = self._channel_of = None
        with contextlib.suppress(*_ERRORS):
            async with asyncio.timeout(2.0):
                await channel.close()

    async def _declare(self, connection: AbstractConnection, channel: AbstractChannel,
                       links: list[str]) -> BaseException | None:
        """Declare and bind the queues of ``links`` in one pipelined batch. None when the
        broker has done all of it; else the channel error it answered the batch with. Raises
        _Lost when the connection went meanwhile."""
        underlay = await channel.get_underlay_channel()
        last = len(links) - 1
        try:
            for index, link_id in enumerate(links):
                spec = self._spec(link_id)
                if not _has_room(underlay.write_queue):
                    await _room_in(underlay.write_queue)
                await underlay.queue_declare(spec.name, durable=True, arguments=spec.arguments,
                                             nowait=True)
                # The batch's last method waits for the broker's answer: it comes after the
                # broker has run every method before it, or the channel closes at a failure.
                await underlay.queue_bind(spec.name, spec.exchange, routing_key=spec.binding,
                                          nowait=index != last)
        except _ERRORS as exc:
            return await self._failure(connection, underlay, exc)
        return None

    async def _unbind(self, channel: AbstractChannel) -> None:
        """Remove the binding of an earlier version from each declared link's queue, once per
        run, until new declarations are due. Queue.Unbind has no no-wait form (a round trip
        each): nothing waits for it. Removing a binding that does not exist is no error."""
        underlay = await channel.get_underlay_channel()
        while self._to_unbind and not (self._parts or self._queued):
            link_id = self._to_unbind.popleft()
            if link_id in self._unbound:
                continue
            spec = self._spec(link_id)
            try:
                await underlay.queue_unbind(spec.name, self._old_exchange,
                                            routing_key=spec.binding)
            except _ERRORS as exc:  # tried again after the next reconnection (restart)
                log.debug("mq_producer: removing the old binding of %r failed: %s", spec.name,
                          self._scrub(exc))
                await self._drop_channel(channel)
                return
            self._unbound.add(link_id)

    async def _failure(self, connection: AbstractConnection, underlay: aiormq.abc.AbstractChannel,
                       error: BaseException) -> BaseException:
        """The broker's reason for closing the channel on a batch; _Lost when it is the
        connection that went (the batch is then declared again on the next one)."""
        reason: BaseException | None = error
        if not isinstance(error, aiormq.exceptions.ChannelClosed):
            # A no-wait method met a channel already closed (ChannelInvalidStateError): the
            # reason is the broker's Channel.Close, which aiormq may still be processing.
            closing = underlay.closing
            await asyncio.wait([closing], timeout=1.0)
            if closing.done() and not closing.cancelled():
                reason = closing.exception()
        if _refusal(reason):
            assert reason is not None
            return reason
        if connection is not self._connection or not _alive(connection):
            raise _Lost
        await asyncio.sleep(0.1)  # a connection going down may take a few turns to say so
        if connection is not self._connection or not _alive(connection):
            raise _Lost
        return reason if reason is not None else error

    def _answered(self, link_id: str, outcome: str | None, error: BaseException | None,
                  callbacks: bool = True) -> None:
        """The link's queue is declared (``ok``) or refused: its messages may go now."""
        name = self._spec(link_id).name
        if outcome is not None:
            state = self._state_of(outcome)
        else:
            state = f"not declared: {self._scrub(error) if error is not None else 'unknown'}"
        if outcome == "ok":
            self._failed.pop(name, None)
        elif self._failed.get(name) != state:  # once per queue and reason, not per reconnection
            self._failed[name] = state
            log.error("mq_producer: queue %r %s; the link's status messages are published all "
                      "the same", name, state if outcome is None else f"not declared: {state}")
        self.states[name] = state
        self._ready[link_id] = True
        for callback in self._callbacks if callbacks else ():
            try:
                callback(link_id)
            except Exception:  # the other callbacks, and the other links, still get theirs
                log.exception("mq_producer: a link queue ready callback failed")


class _Lost(Exception):
    """The connection went while declaring: everything is declared again on the next one."""
