"""kytos/mq_producer: publish the envelopes handed on by listen_events to the broker (RabbitMQ,
or NATS JetStream with TRANSPORT "jetstream").

A hand-off event carries ``{"envelopes": [...]}``. The handler queues it, or, when it is small
and nothing waits before it, takes it at once - and publishes it too, when the publisher is
idle and the transport can write without awaiting (Publisher.publish_now). The intake
(intake.py) checks, counts (``received``; ``rejected`` when it cannot be published) and
submits each envelope on its own, so one bad envelope costs only itself. A hand-off event
without that list counts as one received and one rejected. listen_events may hand the
envelopes over without the event, through ``take_hand_off``, which does the same.

setup() returns at once: connecting, checking exchanges and publishing run in a task on the
controller's loop. The broker's location and credentials come from the environment.
"""

import asyncio
import contextlib
import os
from functools import partial
from pathlib import Path
from typing import Any

from kytos.core import KytosEvent, KytosNApp, log, rest
from kytos.core.helpers import alisten_to, load_spec
from kytos.core.rest_api import JSONResponse, Request

from . import settings
from .checks import SettingsError
from .config import load_config
from .intake import HandOffIntake
from .publisher import Publisher
from .queue_view import QueueView
from .tasks import on_loop
from .transports.factory import make_transport

# An exception while loading a NApp aborts the whole kytosd, so bad settings must not raise:
# with them the NApp listens to nothing and setup() says why, loudly.
try:
    SOURCE_EVENTS = load_config(settings).source_events
except SettingsError:
    SOURCE_EVENTS = "(?!)"  # matches no event name


class Main(KytosNApp):
    """Publishes hand-off events with publisher confirms, buffering through outages."""

    spec = load_spec(Path(__file__).parent / "openapi.yml")

    def setup(self) -> None:
        self.publisher: Publisher | None = None
        self.worker: HandOffIntake | None = None
        self.disabled_reason = ""
        self._stopping: asyncio.Task[None] | None = None
        try:
            config = load_config(settings)
            transport = make_transport(config, os.environ, settings=settings)
        except SettingsError as exc:
            self.disabled_reason = f"invalid setting: {exc}"
            log.error("mq_producer DISABLED, nothing will be published: %s. Fix "
                      "mq_producer/settings.py or the environment and restart Kytos.", exc)
            return
        self.publisher = Publisher(transport, config)
        self.worker = HandOffIntake(self.publisher)
        self.controller.loop.call_soon_threadsafe(self.publisher.start)
        log.info("mq_producer: publishing to %s in the background", transport.description)
        if config.domain_scope:
            log.info("mq_producer: domain scope %r: routing keys start with %r, queues are "
                     "named %r + their name", config.domain_scope, f"{config.domain_scope}.",
                     f"{config.domain_scope}.")

    def execute(self) -> None:
        """Nothing to run periodically: the publisher task does the work."""

    def shutdown(self) -> None:
        """Sync; never blocks. One INFO line says what was discarded.

        When Kytos itself stops (``started_at`` is None by then) it stops the loop in this
        same turn of the loop, right after the NApps' shutdown(): nothing scheduled here would
        run. So everything is done now: our tasks are stopped for good, the buffer discarded
        (a restart resumes from the real-time point) and the connection abandoned - AMQP:
        Connection.Close written to the socket at once, the client library's tasks ended
        (AmqpTransport.abandon). Hand-off events whose handler core started before it stopped
        may still arrive: their envelopes are counted, not taken (HandOffIntake.push).
        When only this NApp is unloaded the loop goes on: the buffer gets a bounded flush and
        the connection a full close. Disabled through Kytos' API, it is called from a thread
        of core's: the same work is handed to the loop, and this returns at once (on_loop).
        """
        if self.publisher is None or self.worker is None:
            return
        on_loop(self.controller.loop, self._stop_on_loop)

    def _stop_on_loop(self) -> None:
        """shutdown()'s work, on the loop's thread."""
        assert self.publisher is not None and self.worker is not None
        if getattr(self.controller, "started_at", None) is None:
            waiting = self.worker.stop()
            self.publisher.counters.discarded += waiting
            self._stopped(waiting, self.publisher.abandon(), self.worker.last_received)
        else:
            self._stopping = self.controller.loop.create_task(self._unload())

    async def _unload(self) -> None:
        """The bounded flush: what the intake holds is submitted, then the buffer flushed."""
        assert self.publisher is not None and self.worker is not None
        timeout = self.publisher.config.shutdown_flush_timeout
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.worker.drained()
        waiting = self.worker.stop()
        self.publisher.counters.discarded += waiting
        self._stopped(waiting, await self.publisher.stop(timeout), self.worker.last_received)

    @staticmethod
    def _stopped(waiting: int, buffered: int, last_received: str | None) -> None:
        log.info("mq_producer: stopped; discarded %d envelopes handed on but not taken in yet "
                 "and %d unconfirmed messages from the buffer (those in flight may have "
                 "reached the broker); the last envelope received was %s (a restart resumes "
                 "from the real-time point)", waiting, buffered, last_received or "none")

    @alisten_to(SOURCE_EVENTS)
    async def on_envelopes(self, event: KytosEvent) -> None:
        """Hand the event to the intake and return at once (never awaits): a small one is
        taken (and, when the publisher can, published) in this step, any other queued for the
        intake's task (HandOffIntake.push)."""
        if self.worker is not None:
            self.worker.push(event.name, event.id, event.content)

    def take_hand_off(self, event_name: str, envelopes: list[Any]) -> None:
        """What ``on_envelopes`` does with a hand-off event named ``event_name`` whose content
        is ``{"envelopes": envelopes}``, without the event: listen_events calls it in place of
        sending one when every NApp listening to its hand-off events offers it (docs/design.rst,
        "The hand-off"), sparing the controller a second dispatch of every batch. Sync, never
        awaits nor blocks; on the loop's thread."""
        if self.worker is not None:
            self.worker.push(event_name, None, {"envelopes": envelopes})

    @rest("v1/status", methods=["GET"])
    async def status(self, _request: Request) -> JSONResponse:
        """Connection, exchanges, buffer and what waits upstream of it, counters, outage and
        last error, envelopes discarded after shutdown; 503 if disabled."""
        if self.publisher is None or self.worker is None:
            return JSONResponse({"description": self.disabled_reason, "code": 503},
                                status_code=503)
        return JSONResponse({**self.publisher.status(), "intake": self.worker.status(),
                             "after_shutdown": self.worker.after_stop})

    # The web UI panel's routes (ui/k-toolbar/main.kytos, ui/k-info-panel/status.kytos): like
    # v1/status they read nothing from the request and never answer a credential.

    @rest("v1/exchanges", methods=["GET"])
    async def exchanges(self, _request: Request) -> JSONResponse:
        """Each exchange with its state and the outcomes counted for it; 503 if disabled."""
        if self.publisher is None:
            return self._disabled()
        return JSONResponse({"exchanges": self.publisher.outcomes.exchanges(
            self.publisher.destinations)})

    @rest("v1/queues", methods=["GET"])
    async def queues(self, _request: Request) -> JSONResponse:
        """Each queue declared, with the messages ready in it and its consumers as the broker
        says (a passive declare on a connection of its own, reused CACHE_SECONDS); 503 if
        disabled."""
        if self.publisher is None:
            return self._disabled()
        try:
            answer = await self._queue_view().answer(self.publisher.transport.queues,
                                                     self.publisher.outcomes.queue_counts)
        except Exception:  # the details go to the log, never to the client
            log.exception("mq_producer: inspecting the queues failed")
            return JSONResponse({"description": "inspecting the queues failed; the "
                                                "controller's log says why", "code": 500},
                                status_code=500)
        return JSONResponse(answer)

    @rest("v1/recent", methods=["GET"])
    async def recent(self, _request: Request) -> JSONResponse:
        """The latest outcomes, newest first (never a message body); 503 if disabled."""
        if self.publisher is None:
            return self._disabled()
        outcomes = self.publisher.outcomes
        return JSONResponse({"capacity": outcomes.capacity, "messages": outcomes.recent()})

    def _disabled(self) -> JSONResponse:
        return JSONResponse({"description": self.disabled_reason, "code": 503},
                            status_code=503)

    def _queue_view(self) -> QueueView:
        """Made at the first request: the transport's own inspection, or why there is none."""
        assert self.publisher is not None
        view: QueueView | None = getattr(self, "_queue_inspection", None)
        if view is None:
            config = self.publisher.config
            timeout = min(config.publish_timeout, 5.0)
            if config.transport == "amqp" and config.broker is not None:
                from .transports.amqp.inspect import queue_depths

                view = QueueView(partial(queue_depths, config.broker), None, timeout)
            else:
                view = QueueView(None, f"the {config.transport} transport declares no queues "
                                       "(a stream keeps the messages for consumers that "
                                       "connect later)", timeout)
            self._queue_inspection = view
        return view
