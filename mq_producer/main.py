"""kytos/mq_producer: publish the envelopes handed on by listen_events to RabbitMQ.

setup() returns at once: connecting, checking exchanges and publishing run in a task on the
controller's loop. The broker's location and credentials come from the environment.
"""

import asyncio
import time
from pathlib import Path

from kytos.core import KytosEvent, KytosNApp, log, rest
from kytos.core.helpers import alisten_to, load_spec
from kytos.core.rest_api import JSONResponse, Request

from . import settings
from .amqp import AmqpTransport
from .config import load_config
from .intake import InvalidEnvelope, to_message
from .publisher import Publisher

# Validated at import so that bad settings or environment stop the NApp at load, naming them.
SOURCE_EVENTS = load_config(settings).source_events


class Main(KytosNApp):
    """Publishes hand-off events with publisher confirms, buffering through outages."""

    spec = load_spec(Path(__file__).parent / "openapi.yml")

    def setup(self) -> None:
        config = load_config(settings)
        transport = AmqpTransport(config.broker, exchange_type=config.exchange_type,
                                  heartbeat=config.heartbeat,
                                  publish_timeout=config.publish_timeout,
                                  reconnect_interval=config.retry_interval)
        self.publisher = Publisher(transport, config)
        self._stopping: asyncio.Task[None] | None = None
        self.controller.loop.call_soon_threadsafe(self.publisher.start)
        log.info("mq_producer: publishing to %s (exchanges %s) in the background",
                 transport.description, ", ".join(config.router.exchanges))

    def execute(self) -> None:
        """Nothing to run periodically: the publisher task does the work."""

    def shutdown(self) -> None:
        """Sync, on the loop: schedule a bounded flush; never block here."""
        log.info("mq_producer: shutting down with %d messages buffered; flushing for up to "
                 "%.1fs", len(self.publisher.outbox), self.publisher.config.shutdown_flush_timeout)
        self._stopping = self.controller.loop.create_task(
            self.publisher.stop(self.publisher.config.shutdown_flush_timeout))

    @alisten_to(SOURCE_EVENTS)
    async def on_envelope(self, event: KytosEvent) -> None:
        self.publisher.counters.received += 1
        try:
            message = to_message(event.content, self.publisher.config.router, time.time())
        except InvalidEnvelope as exc:
            self.publisher.counters.rejected += 1
            log.error("mq_producer: cannot publish event %s (id %s): %s", event.name,
                      event.id, exc)
            return
        self.publisher.submit(message)

    @rest("v1/status", methods=["GET"])
    async def status(self, _request: Request) -> JSONResponse:
        """Connection, exchanges, buffer, counters, outage and last error."""
        return JSONResponse(self.publisher.status())
