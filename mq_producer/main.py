"""kytos/mq_producer: publish the envelopes handed on by listen_events to RabbitMQ.

A hand-off event carries ``{"envelopes": [...]}``; each envelope is checked, counted
(``received``; ``rejected`` when it cannot be published) and published on its own, so one bad
envelope costs only itself. A hand-off event without that list counts as one received and one
rejected.

setup() returns at once: connecting, checking exchanges and publishing run in a task on the
controller's loop. The broker's location and credentials come from the environment.
"""

import asyncio
import os
import time
from pathlib import Path

from kytos.core import KytosEvent, KytosNApp, log, rest
from kytos.core.helpers import alisten_to, load_spec
from kytos.core.rest_api import JSONResponse, Request

from . import settings
from .config import SettingsError, load_config
from .intake import InvalidEnvelope, envelopes_of, to_messages
from .publisher import Publisher
from .transports import make_transport

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
        self.controller.loop.call_soon_threadsafe(self.publisher.start)
        log.info("mq_producer: publishing to %s in the background", transport.description)

    def execute(self) -> None:
        """Nothing to run periodically: the publisher task does the work."""

    def shutdown(self) -> None:
        """Sync, on the loop; never blocks.

        When Kytos itself stops it stops the loop right after this returns, so nothing async
        could run: the buffer is discarded at once (restart resumes from the real-time point).
        When only this NApp is unloaded the loop goes on: the buffer gets a bounded flush.
        """
        if self.publisher is None:
            return
        if getattr(self.controller, "started_at", None) is None:
            self.publisher.abandon()
        else:
            self._stopping = self.controller.loop.create_task(
                self.publisher.stop(self.publisher.config.shutdown_flush_timeout))

    @alisten_to(SOURCE_EVENTS)
    async def on_envelopes(self, event: KytosEvent) -> None:
        """Submit the messages of every envelope of a hand-off event, in order."""
        if self.publisher is None:
            return
        counters, config = self.publisher.counters, self.publisher.config
        try:
            envelopes = envelopes_of(event.content)
        except InvalidEnvelope as exc:
            counters.received += 1  # the container stands for one envelope that never came
            counters.rejected += 1
            log.error("mq_producer: cannot publish event %s (id %s): %s", event.name, event.id,
                      exc)
            return
        now = time.time()  # one hand-off event: its envelopes were handed on together
        for position, envelope in enumerate(envelopes, 1):
            counters.received += 1
            try:
                messages = to_messages(envelope, config.router, config.link_status, now,
                                       config.max_message_bytes)
            except InvalidEnvelope as exc:
                counters.rejected += 1
                log.error("mq_producer: cannot publish event %s (id %s), envelope %d of %d%s: "
                          "%s", event.name, event.id, position, len(envelopes),
                          _message_id_note(envelope), exc)
                continue
            for message in messages:
                self.publisher.submit(message)

    @rest("v1/status", methods=["GET"])
    async def status(self, _request: Request) -> JSONResponse:
        """Connection, exchanges, buffer, counters, outage and last error; 503 if disabled."""
        if self.publisher is None:
            return JSONResponse({"description": self.disabled_reason, "code": 503},
                                status_code=503)
        return JSONResponse(self.publisher.status())


def _message_id_note(envelope: object) -> str:
    """For the log line: ' (message <id>)' when the envelope has a plain string id, else ''."""
    message_id = envelope.get("message_id") if isinstance(envelope, dict) else None
    if type(message_id) is not str or not message_id:  # a str subclass may misbehave in str()
        return ""
    return f" (message {message_id[:200]})"
