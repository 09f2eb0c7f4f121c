"""From a Kytos event to an envelope: classify, filter, serialize, build. No Kytos import."""

import datetime as dt
import logging
import reprlib
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from .classify import MAX_CACHED_NAMES
from .config import ListenConfig
from .envelope import EnvelopeBuilder, hand_off_form, in_utc, nni_interface, nni_value
from .pacing import Pacer
from .serialize import (
    Serialized,
    Serializer,
    serialize_content,
    serialize_content_paced,
    topology_parts,
)

log = logging.getLogger("kytos.napps.kytos/listen_events")

TOPOLOGY_LOADED = "kytos/topology.topology_loaded"
# Bytes of an event's name at most: it is an AMQP message property (a short string) and the
# producer refuses a longer one; refused here, before any work on the content.
MAX_NAME_BYTES = 255
MAX_ID = 255  # characters of an event's id kept in the envelope (core's are UUIDs: 36)
_SURELY_SHORT = MAX_NAME_BYTES // 4  # characters: UTF-8 takes at most 4 bytes for one


@dataclass
class ListenCounters:
    received: int = 0  # events processed (those still waiting are the worker's backlog)
    classified: int = 0
    not_action: int = 0
    filtered_out: int = 0
    handed_on: int = 0  # envelopes handed on (several per hand-off event)
    serialization_warnings: int = 0
    failed: int = 0  # events (or snapshots) whose processing raised
    hand_on_failed: int = 0  # envelopes lost because handing them on raised
    # Events of BLOCKED_EVENTS (or HANDOFF_EVENT) that reached the pipeline and a class matched
    # (a blocked event no class matches is not_action): never handed on. The subscription
    # leaves them out, so only a handler called some other way sees them.
    blocked: int = 0

    def as_dict(self) -> dict[str, int]:
        """Every counter; ``blocked`` only when not 0 (the answer stays what it was for a
        NApp that never met a blocked event)."""
        counters = asdict(self)
        if not self.blocked:
            del counters["blocked"]
        return counters


class EventPipeline:
    """Turns events into envelope dicts, or None when they are not to be published."""

    def __init__(self, config: ListenConfig, pacer: Pacer | None = None) -> None:
        self.config = config
        self.counters = ListenCounters()
        self.builder = EnvelopeBuilder(config.controller, config.domain,
                                       nni_metadata_key=config.nni_metadata_key)
        # Shared with the hand-off worker when given: one measure of how long the loop has
        # been held, whichever of the two holds it.
        self.pacer = pacer if pacer is not None else Pacer()
        self._blocked: dict[str, bool] = {}  # config.is_blocked, per event name
        self.nni_notes = NniNotes(config.nni_metadata_key)

    def _is_blocked(self, name: str) -> bool:
        try:
            return self._blocked[name]
        except KeyError:
            if len(self._blocked) >= MAX_CACHED_NAMES:  # names are not a closed set
                self._blocked.clear()
            blocked = self._blocked[name] = self.config.is_blocked(name)
            return blocked

    async def process(self, name: str, event_id: Any, timestamp: dt.datetime | None,
                      content: Any) -> list[dict[str, Any] | bytes]:
        """The envelopes to hand on for one event: none, its own, and for topology_loaded
        (when configured) a snapshot of every link and every NNI port after it, those already
        in their hand-off form (``hand_off_form``). None for an
        event no class matches (not_action), a blocked one (blocked: BLOCKED_EVENTS and the
        hand-off event, whatever let it in), one the filters drop (filtered_out) or whose
        name cannot be JSON (failed).

        Work on a whole topology, and on any large content, gives the event loop a turn
        whenever the pacer's budget is spent: a topology of thousands of links, or another
        NApp's thousands of flows, must not stall the controller; the content is bounded
        (serialize.py)."""
        counters, config = self.counters, self.config
        counters.received += 1
        event_class = config.classifier.classify(name, timestamp is not None)
        if event_class is None:
            counters.not_action += 1
            return []
        if self._is_blocked(name):  # never handed on, even if a subscription let it in
            counters.blocked += 1
            if counters.blocked == 1:
                log.info("listen_events: event %r is blocked (BLOCKED_EVENTS or HANDOFF_EVENT) "
                         "but reached the handler: not handed on, counted as blocked (logged "
                         "once)", name)
            return []
        counters.classified += 1
        if not config.event_filter.allows_name(name):  # before any work on the content
            counters.filtered_out += 1
            return []
        if not name.isascii() and not _utf8(name):  # JSON, so the envelope, cannot hold it
            counters.failed += 1
            log.error("listen_events: event %r not handed on: its name is not valid UTF-8 "
                      "(lone surrogates)", name)
            return []
        if len(name) > _SURELY_SHORT and len(name.encode()) > MAX_NAME_BYTES:
            counters.failed += 1
            log.error("listen_events: event %r... not handed on: its name is %d bytes long, "
                      "more than the %d a message property holds", name[:100],
                      len(name.encode()), MAX_NAME_BYTES)
            return []
        if type(event_id) is uuid.UUID:  # core's: no call for the common case
            event_id, warnings = str(event_id), []
        else:
            event_id, warnings = event_id_text(event_id)
        if timestamp is not None and (type(timestamp) is not dt.datetime
                                      or timestamp.tzinfo is not dt.UTC):
            timestamp = _event_time(timestamp, warnings)
        topology = content.get("topology") if isinstance(content, dict) else None
        parts = None if topology is None else topology_parts(topology)
        serialized_topology = None
        if parts is not None:
            serialized_topology, topology_warnings = await _serialize_topology(
                *parts, self.pacer, self.nni_notes)
            warnings += topology_warnings
            content = {**content, "topology": serialized_topology.value}
        # Any NApp's content, of any size: paced, and bounded (serialize.py).
        serialized, more_warnings, large = await serialize_content_paced(content, self.pacer)
        envelope = self._envelope(name, event_class, event_id, timestamp, content, "event",
                                  warnings, serialized=(serialized, more_warnings),
                                  large=large)
        envelopes = [] if envelope is None else [envelope]
        if name == TOPOLOGY_LOADED and self.config.snapshot_on_topology_loaded \
                and serialized_topology is not None:
            # The links and NNI ports as the topology's own serialization saw them: the same
            # instant, and not serialized a second time (half the work of a large
            # topology_loaded).
            # Each in its hand-off form as soon as it is built: a topology's 5,000 snapshots
            # held as dicts until all were built were 100,000 objects that the collector
            # walked meanwhile (and a full collection of them came due).
            envelopes.extend([hand_off_form(envelope) async for envelope in self._snapshots(
                (Serialized(orjson.loads(link)) for link in serialized_topology.links),
                serialized_topology.nni_switches)])
        await self.pacer.pause()  # encoding the envelope (worker) starts a fresh slice
        return envelopes

    async def snapshot(self, links: Iterable[Any],
                       switches: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """One "snapshot" envelope per link, then one per NNI port of ``switches``, with its
        present status. Links: Link objects, or links already serialized, wrapped in
        ``Serialized``; switches: Switch objects, or switches as serialized (their interfaces
        are then taken as they are). A port that is no NNI any more by the time it is
        serialized gives none."""
        return [envelope async for envelope in self._snapshots(links, switches)]

    async def _snapshots(self, links: Iterable[Any],
                         switches: Iterable[Any]) -> AsyncIterator[dict[str, Any]]:
        """``snapshot``'s envelopes, one at a time."""
        config = self.config
        now = dt.datetime.now(dt.UTC)
        for field, objects in (("link", links), ("interface", await self.nni_ports(switches))):
            for obj in objects:
                envelope = self._envelope(config.snapshot_event, config.snapshot_class, None,
                                          now, {field: obj, "reason": "snapshot"}, "snapshot",
                                          nni_only=field == "interface")
                if envelope is not None:
                    yield envelope
                await self.pacer.pause()

    async def nni_ports(self, switches: Iterable[Any]) -> list[Any]:
        """The interfaces of ``switches`` that are NNI ports (NNI_METADATA_KEY in their
        metadata): Interface objects of Switch objects (``interfaces``, a dict), or, of
        switches as serialized (``"interfaces"``, a dict of dicts), the interface dicts
        wrapped in ``Serialized``. Reads only the interfaces' metadata, never serializes;
        pauses as the pacer says. Empty when NNI handling is off."""
        notes = self.nni_notes
        if notes.key is None:
            return []
        ports: list[Any] = []
        for switch in switches:
            if isinstance(switch, Mapping):
                ports.extend(Serialized(port) for port in _nni_ports_of(switch, notes).values())
            else:
                interfaces = getattr(switch, "interfaces", None)
                if isinstance(interfaces, Mapping):
                    ports.extend(  # a copy of the values: Kytos may add some meanwhile
                        interface for interface in list(interfaces.values())
                        if notes.is_nni(getattr(interface, "id", None),
                                        getattr(interface, "metadata", None)))
            await self.pacer.pause()
        return ports

    def _envelope(self, name: str, event_class: str, event_id: Any,
                  timestamp: dt.datetime | None, content: Any, msg_type: str,
                  warnings: list[str] | None = None, nni_only: bool = False,
                  serialized: tuple[dict[str, Any], list[str]] | None = None,
                  large: bool = False) -> dict[str, Any] | None:
        """``nni_only``: build nothing unless the content's interface is an NNI port.
        ``serialized``: the content already serialized, and its warnings; ``large``: it is
        large (handed on as a dict)."""
        event_filter = self.config.event_filter
        if not event_filter.allows_name(name):
            self.counters.filtered_out += 1
            return None
        serialized, more_warnings = serialized or serialize_content(content)
        if nni_only and nni_interface(serialized, self.config.nni_metadata_key) is None:
            return None  # no NNI any more: nothing to say about it
        interface = serialized.get("interface")
        if type(interface) is dict:  # an interface's event: is its NNI key right?
            self.nni_notes.is_nni(interface.get("id"), interface.get("metadata"))
        warnings = [*(warnings or []), *more_warnings]
        if warnings:
            self.counters.serialization_warnings += 1
            log.warning("Event %s (id %s): content degraded while serializing: %s",
                        name, event_id, "; ".join(warnings[:5])
                        + (f" (+{len(warnings) - 5} more)" if len(warnings) > 5 else ""))
        failed_rule = event_filter.failed_content_rule(name, serialized)
        if failed_rule is not None:
            self.counters.filtered_out += 1
            log.debug("Event %s (id %s) filtered out by %s", name, event_id,
                      failed_rule.describe())
            return None
        return self.builder.build(
            event_name=name, event_class=event_class, event_id=event_id,
            event_timestamp=timestamp or dt.datetime.now(dt.UTC), content=serialized,
            msg_type=msg_type, link_status=self.config.link_status_by_event.get(name),
            large=large)


def event_id_text(event_id: Any) -> tuple[str | None, list[str]]:
    """An event's id as the envelope's text (None stays None), and a warning when it had to
    be made so: cut to MAX_ID characters, escaped when not UTF-8, or a placeholder when str()
    raises. Never raises: it is also how a log line shows the id."""
    kind = type(event_id)
    if kind is uuid.UUID:  # core's
        return str(event_id), []
    if event_id is None:
        return None, []
    try:
        text = str(event_id)
    except Exception as exc:
        return f"<unprintable {kind.__name__}>", [f"event id: str() raised {type(exc).__name__}"]
    if type(text) is not str:  # a str subclass's own methods are not called
        return f"<unprintable {kind.__name__}>", ["event id: str() gave no str"]
    warnings = []
    if not text.isascii() and not _utf8(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        warnings.append("event id has characters that are not valid UTF-8 (escaped)")
    if len(text) > MAX_ID:
        warnings.append(f"event id of {len(text)} characters cut to {MAX_ID}")
        text = f"{text[:MAX_ID]}...<{len(text) - MAX_ID} characters cut>"
    return text, warnings


def _event_time(timestamp: Any, warnings: list[str]) -> dt.datetime:
    """A timestamp that is not core's (an aware UTC datetime) in UTC (a naive one taken as
    UTC); when it is no datetime, or one that UTC cannot hold, the present time, with a
    warning."""
    try:
        if isinstance(timestamp, dt.datetime):
            return in_utc(timestamp)
        why = f"a {type(timestamp).__name__}, not a datetime"
    except Exception as exc:  # out of range in UTC, or a tzinfo that raises
        why = f"not a time in UTC ({type(exc).__name__}: {exc})"
    warnings.append(f"event timestamp is {why}: the time listen_events took the event is "
                    "sent instead")
    return dt.datetime.now(dt.UTC)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SerializedTopology:
    """A Topology serialized for its envelope and its snapshots. Each switch and link is kept
    as its JSON (an ``orjson.Fragment``, which orjson writes as it is): a dict of those is
    not tracked by the garbage collector, where the same topology as dicts is hundreds of
    thousands of objects that every collection walks while it waits to be published - and
    that made a full collection of 60-100 ms come due during topology_loaded."""

    value: Serialized  # {"switches": {id: Fragment}, "links": {id: Fragment}}
    links: list[bytes]  # each link's JSON, in the topology's order, for its snapshot
    nni_switches: list[dict[str, Any]]  # each switch with NNI ports, as {"interfaces": those}


async def _serialize_topology(switches: Mapping[Any, Any], links: Mapping[Any, Any],
                              pacer: Pacer, nni_notes: "NniNotes"
                              ) -> tuple[SerializedTopology, list[str]]:
    """A Topology as {"switches": {...}, "links": {...}}, pausing as the pacer says."""
    serializer = Serializer()
    result: dict[str, dict[str, Any]] = {"switches": {}, "links": {}}
    link_json: list[bytes] = []
    nni_switches: list[dict[str, Any]] = []
    for part, objects in (("switches", switches), ("links", links)):
        for key, obj in list(objects.items()):  # a copy: the topology may change meanwhile
            serializer.new_piece()  # the serializer's bounds, per switch and per link
            value = serializer.value(obj, depth=3)
            encoded = orjson.dumps(value)  # the serializer's values are JSON
            result[part][serializer.key(key)] = orjson.Fragment(encoded)
            if part == "links":
                link_json.append(encoded)
            else:
                ports = _nni_ports_of(value, nni_notes)
                if ports:
                    nni_switches.append({"interfaces": ports})
            await pacer.pause()
    return (SerializedTopology(Serialized(result), link_json, nni_switches),
            serializer.finish())


def _nni_ports_of(switch: Any, notes: "NniNotes") -> dict[str, Any]:
    """The NNI ports among a serialized switch's interfaces."""
    interfaces = switch.get("interfaces") if isinstance(switch, Mapping) else None
    if notes.key is None or not isinstance(interfaces, Mapping):
        return {}
    return {name: interface for name, interface in interfaces.items()
            if isinstance(interface, Mapping)
            and notes.is_nni(interface.get("id", name), interface.get("metadata"))}


class NniNotes:
    """Whether an interface is an NNI port (``nni_value``); one whose metadata has the NNI
    key with a value that is no remote port's id (5, a dict, "") is not, and that is said
    in a WARNING once per interface (up to MAX_CACHED_NAMES of them): an operator who set
    it so would otherwise wonder in silence why its status never comes."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self._said: set[str] = set()

    def is_nni(self, interface_id: Any, metadata: Any) -> bool:
        key = self.key
        if nni_value(metadata, key) is not None:
            return True
        if key is not None and isinstance(metadata, Mapping) and key in metadata:
            self._say(interface_id, metadata[key])
        return False

    def _say(self, interface_id: Any, value: Any) -> None:
        name, _ = event_id_text(interface_id)
        if name in self._said or len(self._said) >= MAX_CACHED_NAMES:
            return
        self._said.add(name)  # type: ignore[arg-type]
        log.warning("listen_events: interface %s has %s = %s in its metadata, which is not a "
                    "non-empty string (the remote port's id): it is not taken as an NNI port, "
                    "and no status message is sent for it (said once per interface)", name,
                    self.key, _short_repr(value))


def _short_repr(value: Any) -> str:
    try:
        return reprlib.repr(value)  # a few dozen characters at most
    except Exception:
        return f"<a {type(value).__name__}>"

