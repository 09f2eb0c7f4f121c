"""Envelope -> (exchange, routing key), from the ROUTES setting."""

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TEMPLATE_FIELDS = ("event_class", "event_name", "msg_type", "domain", "controller", "key",
                   "link_id", "dpid", "napp")
_EXCHANGE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,255}")
_MISSING = "none"


class RoutingError(ValueError):
    """A route setting is invalid, or an envelope lacks what routing needs."""


def scoped(scope: str, name: str) -> str:
    """A name or routing key within a domain scope (DOMAIN_SCOPE): "<scope>." before it; an
    empty key is the scope alone (SDX-LC binds its queue with its bare domain)."""
    if not scope:
        return name
    return f"{scope}.{name}" if name else scope


def event_napp(event_name: str) -> str:
    """The NApp that emitted an event: its name up to the first "." (kytos-ng names events
    "<username>/<napp>.<what>": ``kytos/topology.link_down`` -> ``kytos/topology``,
    ``version/control.initialize`` -> ``version/control``); a name without "." is its own."""
    return event_name.partition(".")[0]


def template_fields(envelope: Mapping[str, Any]) -> dict[str, str]:
    """The values a routing-key template may use; missing ones render as 'none'. ``napp`` is
    the envelope's "napp" when it has one, else the event name's NApp (``event_napp``)."""
    producer = envelope.get("producer") or {}
    link = envelope.get("link") or {}
    key = envelope.get("key") or ""
    dpid = key.partition(":")[2] if key.startswith("switch:") else ""
    return {
        "event_class": str(envelope["event_class"]),
        "event_name": str(envelope["event_name"]),
        "msg_type": str(envelope.get("msg_type") or _MISSING),
        "domain": str(producer.get("domain") or _MISSING),
        "controller": str(producer.get("controller") or _MISSING),
        "key": key or _MISSING,
        "link_id": str(link.get("id") or _MISSING),
        "dpid": dpid or _MISSING,
        "napp": str(envelope.get("napp") or event_napp(str(envelope["event_name"]))),
    }


def template_fields_used(template: str) -> list[str]:
    """The fields a routing-key template uses. Raises ValueError when it is malformed."""
    return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]


# Fields that, with the scope, make the whole routing key of a template that uses no other:
# such keys are cached per event name and class (``Router.route``).
_PER_EVENT = frozenset({"event_class", "event_name"})
MAX_CACHED_ROUTES = 4096  # event names are not a closed set


@dataclass(frozen=True, slots=True)
class Route:
    exchange: str
    routing_key: str
    event_class: str | None = None
    events: re.Pattern[str] | None = None

    @classmethod
    def from_setting(cls, index: int, setting: Any) -> "Route":
        name = f"ROUTES[{index}]"
        if not isinstance(setting, Mapping):
            raise RoutingError(f"{name}: expected a dict, got {setting!r}")
        unknown = set(setting) - {"exchange", "routing_key", "event_class", "events"}
        if unknown:
            raise RoutingError(f"{name}: unknown keys {sorted(unknown)}")
        exchange = setting.get("exchange")
        if not isinstance(exchange, str) or not _EXCHANGE_NAME.fullmatch(exchange) \
                or exchange.startswith("amq."):
            raise RoutingError(f"{name}.exchange: expected an exchange name (letters, digits, "
                               f"'_.:-', not starting with 'amq.'), got {exchange!r}")
        template = setting.get("routing_key")
        if not isinstance(template, str):
            raise RoutingError(f"{name}.routing_key: expected a template string, "
                               f"got {template!r}")
        try:
            used = template_fields_used(template)
        except ValueError as exc:
            raise RoutingError(f"{name}.routing_key: malformed template {template!r}: "
                               f"{exc}") from None
        bad = [field for field in used if field not in TEMPLATE_FIELDS]
        if bad:
            raise RoutingError(f"{name}.routing_key: unknown fields {bad}; "
                               f"use {', '.join(TEMPLATE_FIELDS)}")
        events = setting.get("events")
        if events is not None:
            try:
                events = re.compile(f"(?:{events})\\Z")
            except (re.error, TypeError) as exc:
                raise RoutingError(f"{name}.events: invalid regex {events!r}: {exc}") from None
        event_class = setting.get("event_class")
        if event_class is not None and not isinstance(event_class, str):
            raise RoutingError(f"{name}.event_class: expected a string, got {event_class!r}")
        return cls(exchange, template, event_class, events)

    def matches(self, event_name: str, event_class: str) -> bool:
        return ((self.event_class is None or self.event_class == event_class)
                and (self.events is None or self.events.match(event_name) is not None))


class Router:
    """Picks the first matching route and renders its routing key (within ``scope``, the
    DOMAIN_SCOPE, when there is one)."""

    def __init__(self, routes: Sequence[Route], scope: str = "") -> None:
        if not routes:
            raise RoutingError("ROUTES: at least one route is required")
        self.routes = tuple(routes)
        self.scope = scope
        self.exchanges = tuple(dict.fromkeys(route.exchange for route in self.routes))
        # (exchange, routing key) per (event name, event class), for the routes whose keys
        # depend on those alone: routing a burst's envelope is then one lookup.
        self._per_event: dict[tuple[str, str], tuple[str, str]] = {}
        self._keyed_per_event = tuple(_PER_EVENT.issuperset(template_fields_used(
            route.routing_key)) for route in self.routes)

    def route(self, envelope: Mapping[str, Any]) -> tuple[str, str]:
        name, event_class = envelope["event_name"], envelope["event_class"]
        plain = type(name) is str and type(event_class) is str  # a subclass may misbehave
        if plain:
            cached = self._per_event.get((name, event_class))
            if cached is not None:
                return cached
        fields = template_fields(envelope)
        for route, keyed_per_event in zip(self.routes, self._keyed_per_event, strict=True):
            if route.matches(fields["event_name"], fields["event_class"]):
                routing_key = scoped(self.scope, route.routing_key.format_map(fields))
                if len(routing_key.encode()) > 255:
                    raise RoutingError(f"routing key longer than 255 bytes for event "
                                       f"{fields['event_name']!r}: {routing_key[:80]}...")
                if plain and keyed_per_event:
                    if len(self._per_event) >= MAX_CACHED_ROUTES:
                        self._per_event.clear()
                    self._per_event[name, event_class] = route.exchange, routing_key
                return route.exchange, routing_key
        raise RoutingError(f"no route for event {fields['event_name']!r} of class "
                           f"{fields['event_class']!r}: add a catch-all route to ROUTES")
