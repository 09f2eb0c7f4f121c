"""kytos/listen_events: classify, filter and serialize Kytos events, and hand them on.

The event handler queues the event; one worker task (worker.py) turns events into envelopes
in arrival order, giving the loop a turn every WORK_SLICE (pacing.py). An event that comes
alone to an idle worker is processed and handed on by the handler itself, in its own step
(HandOffWorker.take): at a steady pace that saves the worker task's wake-ups. Envelopes go
out in order, up to MAX_BATCH at a time, as KytosEvents (``settings.HANDOFF_EVENT``, content
``{"envelopes": [...]}``: each envelope its JSON bytes, a topology's or a large content's a
dict) on the app buffer, so any producer NApp can publish them; this NApp knows nothing about
brokers. When every NApp listening to that event offers ``take_hand_off`` (kytos/mq_producer
does), the envelopes are handed to it directly instead (direct.py, DIRECT_HAND_OFF). It never
takes in what it hands on: the hand-off event is always blocked (settings.BLOCKED_EVENTS).
"""

import asyncio
import time
from pathlib import Path

from kytos.core import KytosEvent, KytosNApp, log, rest
from kytos.core.helpers import alisten_to, load_spec
from kytos.core.rest_api import JSONResponse, Request

from . import settings
from .config import load_config
from .direct import DirectHandOff, TakeHandOff
from .pacing import WORK_SLICE, Pacer
from .patterns import SettingsError
from .pipeline import EventPipeline
from .worker import Handed, HandOffWorker, on_loop

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
        self.worker: HandOffWorker | None = None
        self.direct: DirectHandOff | None = None
        self.disabled_reason = ""
        try:
            self.pipeline = EventPipeline(load_config(settings), Pacer(WORK_SLICE))
        except SettingsError as exc:
            self.disabled_reason = f"invalid setting: {exc}"
            log.error("listen_events DISABLED, no event will be handed on: %s. Fix "
                      "listen_events/settings.py or the environment and restart Kytos.", exc)
            return
        self.worker = HandOffWorker(self.pipeline, self._hand_on,
                                    linger=self.pipeline.config.linger)
        self.direct = DirectHandOff(self.pipeline.config.handoff_event) \
            if self.pipeline.config.direct_hand_off else None
        self._events_sent = False  # hand-off events were sent, maybe not handled yet
        # The subscription is one regex of every pattern (hundreds of characters): shown at
        # DEBUG, and in v1/status.
        log.info("listen_events: instance %s, profile %s (its events but BLOCKED_EVENTS: "
                 "v1/status' subscription), handing on as %s", self.pipeline.builder.instance,
                 self.pipeline.config.profile, self.pipeline.config.handoff_event)
        log.debug("listen_events: subscribed to %s", SUBSCRIPTION)

    def execute(self) -> None:
        """Nothing to run periodically: the hand-off worker task does the work."""

    def shutdown(self) -> None:
        """Sync; never blocks. Stops our own worker task only (for good: see
        HandOffWorker.stop) and logs, in one INFO line, what was discarded.

        Events still waiting are discarded, not flushed: when Kytos stops it stops the loop
        in the same turn, right after this returns, and a restarted NApp starts from the
        real-time point (with a new producer instance), as mq_producer does with its buffer.
        Events that still reach the handler afterwards (core started their handler tasks
        before it stopped) are discarded too, counted as ``after_shutdown`` in v1/status.
        Disabled through Kytos' API, it is called from a thread of core's: the same work is
        handed to the loop, and this returns at once (worker.on_loop).
        """
        if self.worker is None:
            return
        on_loop(self.controller.loop, self._stop_on_loop)

    def _stop_on_loop(self) -> None:
        """shutdown()'s work, on the loop's thread."""
        assert self.worker is not None
        discarded = self.worker.stop()
        log.info("listen_events: stopped; %d events still waiting and %d envelopes not handed "
                 "on yet were discarded; the last envelope handed on was %s (a restart starts "
                 "from the real-time point)", discarded.events, discarded.envelopes,
                 discarded.last_handed_on or "none")

    @alisten_to(SUBSCRIPTION)
    async def on_event(self, event: KytosEvent) -> None:
        """Queue the event for the worker; one that came alone is processed here instead
        (HandOffWorker.take)."""
        if self.worker is not None:
            await self.worker.take(event.name, event.id, event.timestamp, event.content)

    async def _hand_on(self, envelopes: list[Handed]) -> None:
        """A batch of envelopes, in order (the worker counts them): to the producer NApps'
        ``take_hand_off`` when all of them offer it (direct.py), else in one hand-off event.

        Going direct after hand-off events were sent waits until core has started their
        handlers, so that none is overtaken: its app buffer seen empty (it is FIFO, and core
        starts an event's handler tasks in the step that takes it), then one turn of the loop
        (those tasks run first). While the buffer is not empty, events go on being sent.
        Each producer NApp gets the batch even when another one's ``take_hand_off`` raised, as
        each handler of a hand-off event would: the first error is raised afterwards."""
        assert self.pipeline is not None
        name = self.pipeline.config.handoff_event
        sinks = self._direct_sinks()
        if sinks is not None and self._events_sent:
            if self.controller.buffers.app.empty():
                await asyncio.sleep(0)
                self._events_sent = False
            else:
                sinks = None
        if sinks is None:
            self._events_sent = True
            await self.controller.buffers.app.aput(
                KytosEvent(name=name, content={"envelopes": envelopes}))
            return
        failure: Exception | None = None
        for take_hand_off in sinks:  # each gets the batch, whatever another one did with it
            try:
                take_hand_off(name, envelopes)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:  # logged and counted as the event path's failures are
            raise failure

    @rest("v1/snapshot", methods=["POST"])
    async def snapshot(self, _request: Request) -> JSONResponse:
        """Hand on one snapshot message per link the controller knows, and one per NNI port
        (an interface of its switches whose metadata has NNI_METADATA_KEY), with its status.

        The worker builds and hands them on behind the events already queued (in batches of
        MAX_BATCH, pacing itself), so their sequence numbers follow the hand-off order; the
        answer comes once they are handed on: {"links": n}, with "nni_ports": m when m > 0
        (the answer for a controller without NNI ports is what it always was).

        The request is not read: the route takes no body and no parameters (openapi.yml), so
        whatever a client sends cannot reach the NApp. Core's avalidate_openapi_request is not
        called: in kytos 2025.2.1 it answers 500 to a POST without Content-Type.
        """
        if self.pipeline is None or self.worker is None:
            return self._disabled()
        try:
            # Copies of the dicts, taken now; the switches' interfaces are looked at (for
            # their NNI metadata only) when the worker comes to the request.
            handed_on = await self.worker.snapshot(list(self.controller.links.values()),
                                                   list(self.controller.switches.values()))
        except Exception:  # the details go to the log, never to the client
            self.pipeline.counters.failed += 1
            log.exception("listen_events: snapshot failed")
            return JSONResponse({"description": "snapshot failed; the controller's log says "
                                                "why", "code": 500}, status_code=500)
        answer = {"links": handed_on.links}
        if handed_on.nni_ports:
            answer["nni_ports"] = handed_on.nni_ports
        return JSONResponse(answer, status_code=202)

    def _direct_sinks(self) -> tuple[TakeHandOff, ...] | None:
        """The producer NApps' ``take_hand_off`` methods, when they all offer it (direct.py)."""
        if self.direct is None:
            return None
        return self.direct.sinks(getattr(self.controller, "events_listeners", None),
                                 time.monotonic())

    def _hand_off_path(self) -> dict[str, object]:
        """How the next batch goes: "direct" to the NApps named, "event", or "switching"
        (direct once core's app buffer is found empty: hand-off events may wait there)."""
        if self.direct is None or self._direct_sinks() is None:
            return {"hand_off_path": "event", "direct_to": []}
        return {"hand_off_path": "switching" if self._events_sent else "direct",
                "direct_to": list(self.direct.napps)}

    def _disabled(self) -> JSONResponse:
        return JSONResponse({"description": self.disabled_reason, "code": 503},
                            status_code=503)

    @rest("v1/status", methods=["GET"])
    async def status(self, _request: Request) -> JSONResponse:
        """Counters since this NApp started; 503 when disabled by a bad setting."""
        if self.pipeline is None or self.worker is None:
            return self._disabled()
        return JSONResponse({
            "instance": self.pipeline.builder.instance,
            "profile": self.pipeline.config.profile,
            "subscription": SUBSCRIPTION,
            "handoff_event": self.pipeline.config.handoff_event,
            **self._hand_off_path(),
            "backlog": self.worker.backlog,
            "counters": self.pipeline.counters.as_dict(),
            "after_shutdown": self.worker.after_stop,
        })
