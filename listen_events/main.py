"""kytos/listen_events: classify, filter and serialize Kytos events, and hand them on.

The envelope goes out as a KytosEvent (``settings.HANDOFF_EVENT``, content
``{"envelope": <dict>}``) on the app buffer, so any producer NApp can publish it; this NApp
knows nothing about brokers.
"""

from pathlib import Path

from kytos.core import KytosEvent, KytosNApp, log, rest
from kytos.core.helpers import alisten_to, load_spec
from kytos.core.rest_api import JSONResponse, Request

from . import settings
from .config import load_config
from .patterns import SettingsError
from .pipeline import EventPipeline

# An exception while loading a NApp aborts the whole kytosd, so bad settings must not raise:
# with them the NApp subscribes to nothing and setup() says why, loudly.
try:
    SUBSCRIPTION = load_config(settings).subscription
except SettingsError:
    SUBSCRIPTION = "(?!)"  # matches no event name


class Main(KytosNApp):
    """Listens to the subscribed events and hands envelopes on."""

    spec = load_spec(Path(__file__).parent / "openapi.yml")

    def setup(self) -> None:
        self.pipeline: EventPipeline | None = None
        self.disabled_reason = ""
        try:
            self.pipeline = EventPipeline(load_config(settings))
        except SettingsError as exc:
            self.disabled_reason = f"invalid setting: {exc}"
            log.error("listen_events DISABLED, no event will be handed on: %s. Fix "
                      "listen_events/settings.py or the environment and restart Kytos.", exc)
            return
        log.info("listen_events: instance %s, subscribed to %s, handing on as %s",
                 self.pipeline.builder.instance, SUBSCRIPTION,
                 self.pipeline.config.handoff_event)

    def execute(self) -> None:
        """Nothing to run periodically: all work happens in the event handler."""

    def shutdown(self) -> None:
        """Nothing is buffered here: envelopes are handed on as soon as they are built."""

    @alisten_to(SUBSCRIPTION)
    async def on_event(self, event: KytosEvent) -> None:
        if self.pipeline is None:
            return
        try:
            envelopes = await self.pipeline.process(event.name, event.id, event.timestamp,
                                                    event.content)
        except Exception:  # a bug must cost one event, logged, not the listener
            self.pipeline.counters.failed += 1
            log.exception("listen_events: could not process event %s (id %s)",
                          event.name, event.id)
            return
        await self._hand_on(envelopes)

    async def _hand_on(self, envelopes: list[dict]) -> None:
        assert self.pipeline is not None
        for envelope in envelopes:
            await self.controller.buffers.app.aput(
                KytosEvent(name=self.pipeline.config.handoff_event,
                           content={"envelope": envelope}))
            self.pipeline.counters.handed_on += 1

    @rest("v1/snapshot", methods=["POST"])
    async def snapshot(self, _request: Request) -> JSONResponse:
        """Hand on one snapshot message per link the controller knows, with its status.

        The request is not read: the route takes no body and no parameters (openapi.yml), so
        whatever a client sends cannot reach the NApp. Core's avalidate_openapi_request is not
        called: in kytos 2025.2.1 it answers 500 to a POST without Content-Type.
        """
        if self.pipeline is None:
            return self._disabled()
        try:
            envelopes = await self.pipeline.snapshot(list(self.controller.links.values()))
        except Exception:  # the details go to the log, never to the client
            self.pipeline.counters.failed += 1
            log.exception("listen_events: snapshot failed")
            return JSONResponse({"description": "snapshot failed; the controller's log says "
                                                "why", "code": 500}, status_code=500)
        await self._hand_on(envelopes)
        return JSONResponse({"links": len(envelopes)}, status_code=202)

    def _disabled(self) -> JSONResponse:
        return JSONResponse({"description": self.disabled_reason, "code": 503},
                            status_code=503)

    @rest("v1/status", methods=["GET"])
    async def status(self, _request: Request) -> JSONResponse:
        """Counters since this NApp started; 503 when disabled by a bad setting."""
        if self.pipeline is None:
            return self._disabled()
        return JSONResponse({
            "instance": self.pipeline.builder.instance,
            "subscription": SUBSCRIPTION,
            "handoff_event": self.pipeline.config.handoff_event,
            "counters": self.pipeline.counters.as_dict(),
        })
