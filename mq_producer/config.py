"""mq_producer configuration: built once from ``settings.py`` and the environment.

The NApp's own settings are checked here; where the broker is and how to log in belong to
each transport (``transports/amqp/broker.py``, ``transports/jetstream/settings.py``).
"""

import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .checks import SettingsError, is_number
from .routing import Route, Router, RoutingError, scoped, template_fields
from .transports.amqp.broker import BrokerSettings, broker_from_env


@dataclass(frozen=True)
class QueueSpec:
    """A durable queue bound to an exchange."""

    name: str
    exchange: str
    binding: str
    arguments: dict[str, object]


@dataclass(frozen=True)
class LinkStatusConfig:
    enabled: bool
    exchange: str
    queue_prefix: str
    metadata: dict[str, object]
    link_ids: frozenset[str]
    nni: bool = True  # SDX NNI ports (envelope link "kind": "nni") have a status queue
    copy_route: Route | None = None  # the routing key of an accepted status's one copy
    refresh_after: float = 240.0  # seconds; 0: a status unread in its queue is never renewed
    scope: str = ""  # DOMAIN_SCOPE: "<scope>." starts the queues' names and the copies' keys

    def is_interdomain(self, link: Mapping[str, object]) -> bool:
        """Whether a link (as in envelope["link"]) gets a status queue."""
        if not self.enabled:
            return False
        if link["id"] in self.link_ids or (self.nni and link.get("kind") == "nni"):
            return True
        if not self.metadata:
            return False
        metadata = link.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            return False
        return all(metadata.get(key) == value for key, value in self.metadata.items())

    def queue(self, link_id: str) -> str:
        return scoped(self.scope, f"{self.queue_prefix}{link_id}")

    def is_status_queue(self, name: str) -> bool:
        """Whether a queue name is one of the link status queues' (none without a prefix)."""
        return self.enabled and bool(self.queue_prefix) \
            and name.startswith(scoped(self.scope, self.queue_prefix))

    @property
    def queues_exchange(self) -> str:
        """Where status messages are published (AMQP): each link's queue is bound to it with
        the link id. Named after the queues, so that their permissions cover it (and one per
        domain scope: link ids may be the same in two domains)."""
        return scoped(self.scope, f"{self.queue_prefix}queues")

    def copy_key(self, envelope: Mapping[str, Any]) -> str | None:
        """The routing key of the status's copy on EXCHANGE (copy_routing_key rendered)."""
        if self.copy_route is None:
            return None
        return scoped(self.scope,
                      self.copy_route.routing_key.format_map(template_fields(envelope)))


QUEUE_TYPES = ("classic", "quorum")


def queue_type_of(settings: ModuleType) -> str:
    """QUEUE_TYPE: the type of every durable queue the producer declares (and mq-consumer
    declares the same way)."""
    queue_type = getattr(settings, "QUEUE_TYPE", "classic")
    if queue_type not in QUEUE_TYPES:
        raise SettingsError(f"QUEUE_TYPE: expected one of {', '.join(QUEUE_TYPES)}, "
                            f"got {queue_type!r}")
    return queue_type


def typed(arguments: Mapping[str, object], queue_type: str) -> dict[str, object]:
    """A durable queue's arguments with its type: a classic queue is declared without
    x-queue-type, as before the setting (RabbitMQ 3.10 refuses to redeclare a queue with an
    x-queue-type it was not declared with)."""
    if queue_type == "classic":
        return dict(arguments)
    return {**arguments, "x-queue-type": queue_type}


# The per-link queue holds one message and refuses the next while it waits (see LINK_STATUS).
LINK_QUEUE_ARGUMENTS: dict[str, object] = {"x-max-length": 1, "x-overflow": "reject-publish"}


@dataclass(frozen=True)
class NappQueuesConfig:
    """NAPP_QUEUES: a durable queue per listed NApp, bound to every exchange of ROUTES."""

    enabled: bool = False
    prefix: str = "napp."
    napps: tuple[str, ...] = ()
    binding: str = "*.{napp}.#"  # a template: {napp} is the NApp
    arguments: dict[str, object] = field(default_factory=dict)

    def queue(self, napp: str) -> str:
        return f"{self.prefix}{napp}"

    def binding_for(self, napp: str) -> str:
        return self.binding.format(napp=napp)

    def specs(self, exchanges: Sequence[str]) -> tuple[QueueSpec, ...]:
        """One QueueSpec per NApp and exchange (the same queue, bound to each exchange)."""
        if not self.enabled:
            return ()
        return tuple(QueueSpec(self.queue(napp), exchange, self.binding_for(napp),
                               dict(self.arguments))
                     for napp in self.napps for exchange in exchanges)


@dataclass(frozen=True)
class VerboseQueueConfig:
    """VERBOSE_QUEUE: one durable queue bound with "#" to every exchange of ROUTES."""

    enabled: bool = False
    queue: str = "verbose"
    arguments: dict[str, object] = field(default_factory=dict)

    def specs(self, exchanges: Sequence[str]) -> tuple[QueueSpec, ...]:
        if not self.enabled:
            return ()
        return tuple(QueueSpec(self.queue, exchange, "#", dict(self.arguments))
                     for exchange in exchanges)


@dataclass(frozen=True)
class ProducerConfig:
    transport: str  # "amqp" or "jetstream"
    broker: BrokerSettings | None  # the AMQP broker; None with another transport
    source_events: str
    router: Router
    queues: tuple[QueueSpec, ...]
    link_status: LinkStatusConfig
    dead_letter: str
    exchange_type: str
    max_in_flight: int
    buffer_size: int
    max_waiting: int
    retry_interval: float
    publish_timeout: float
    heartbeat: int
    alarm_reminder_interval: float
    shutdown_flush_timeout: float
    max_message_bytes: int
    amqp_fast_path: bool = True
    confirm_read_linger: float = 0.005  # seconds; CONFIRM_READ_LINGER_MS
    queue_type: str = "classic"  # QUEUE_TYPE
    # Their QueueSpecs are in ``queues`` (after QUEUES'); these say what they came from.
    napp_queues: NappQueuesConfig = NappQueuesConfig()
    verbose_queue: VerboseQueueConfig = VerboseQueueConfig()
    domain_scope: str = ""  # DOMAIN_SCOPE; "" for none


def _positive(name: str, value: object, kind: type) -> float:
    if not is_number(value) or value <= 0 or (kind is int and not isinstance(value, int)):
        raise SettingsError(f"{name}: expected a positive {kind.__name__}, got {value!r}")
    return value


CONFIRM_READ_LINGER_MAX_MS = 100


def _confirm_read_linger(value: object) -> float:
    """CONFIRM_READ_LINGER_MS, in seconds."""
    if not is_number(value) or not 0 <= value <= CONFIRM_READ_LINGER_MAX_MS:
        raise SettingsError(f"CONFIRM_READ_LINGER_MS: expected milliseconds from 0 to "
                            f"{CONFIRM_READ_LINGER_MAX_MS}, got {value!r}")
    return value / 1000


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"{name}: expected True or False, got {value!r}")
    return value


MIN_MESSAGE_BYTES = 4096  # an envelope with an empty content is about 600 bytes


def _message_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_MESSAGE_BYTES:
        raise SettingsError(f"MAX_MESSAGE_BYTES: expected a whole number of bytes, at least "
                            f"{MIN_MESSAGE_BYTES}, got {value!r}")
    return value


_EXCHANGE_TYPES = ("topic", "direct", "fanout", "headers")
_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")


def _name(setting: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value.startswith("amq."):
        raise SettingsError(f"{setting}: expected a name of letters, digits and '_.:/-' "
                            f"(not starting with 'amq.'), got {value!r}")
    return value


def _queues(setting: object) -> tuple[QueueSpec, ...]:
    if not isinstance(setting, list | tuple):
        raise SettingsError(f"QUEUES: expected a list, got {setting!r}")
    specs = []
    for index, item in enumerate(setting):
        name = f"QUEUES[{index}]"
        if not isinstance(item, Mapping) or set(item) - {"queue", "exchange", "binding",
                                                         "arguments"}:
            raise SettingsError(f"{name}: expected a dict with queue, exchange, binding and "
                                f"optional arguments, got {item!r}")
        binding = item.get("binding")
        if not isinstance(binding, str) or len(binding.encode()) > 255:
            raise SettingsError(f"{name}.binding: expected a routing-key pattern, "
                                f"got {binding!r}")
        arguments = item.get("arguments", {})
        if not isinstance(arguments, Mapping):
            raise SettingsError(f"{name}.arguments: expected a dict, got {arguments!r}")
        specs.append(QueueSpec(_name(f"{name}.queue", item.get("queue")),
                               _name(f"{name}.exchange", item.get("exchange")), binding,
                               dict(arguments)))
    return tuple(specs)


def _arguments(setting: str, value: object) -> dict[str, object]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise SettingsError(f"{setting}: expected a dict of RabbitMQ queue arguments, "
                            f"got {value!r}")
    return dict(value)


# A kytos-ng NApp id, "<username>/<name>": no "." (it ends the NApp's part of an event name
# and splits topic routing keys into words), no "*" or "#" (binding wildcards).
_NAPP = re.compile(r"[A-Za-z0-9_-]+/[A-Za-z0-9_-]+")
_PREFIX = re.compile(r"[A-Za-z0-9_.:/-]{0,120}")
_NAPP_QUEUES_KEYS = {"enabled", "prefix", "napps", "binding", "arguments"}


def napp_queues_from(setting: object) -> NappQueuesConfig:
    """NAPP_QUEUES, validated (also read by mq-consumer --napp)."""
    if setting is None:  # a settings module of before NAPP_QUEUES: none
        return NappQueuesConfig()
    if not isinstance(setting, Mapping) or "enabled" not in setting \
            or set(setting) - _NAPP_QUEUES_KEYS:
        raise SettingsError(f"NAPP_QUEUES: expected a dict with {sorted(_NAPP_QUEUES_KEYS)}, "
                            f"got {setting!r}")
    enabled = _flag("NAPP_QUEUES.enabled", setting["enabled"])
    if not enabled and set(setting) == {"enabled"}:
        return NappQueuesConfig()
    if set(setting) != _NAPP_QUEUES_KEYS:
        raise SettingsError(f"NAPP_QUEUES: missing {sorted(_NAPP_QUEUES_KEYS - set(setting))}")
    prefix = setting["prefix"]
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix) \
            or prefix.startswith("amq."):
        raise SettingsError(f"NAPP_QUEUES.prefix: expected letters, digits and '_.:/-' (at most "
                            f"120, not starting with 'amq.'), got {prefix!r}")
    napps = setting["napps"]
    if not isinstance(napps, list | tuple):
        raise SettingsError(f"NAPP_QUEUES.napps: expected a list of NApps "
                            f"('<username>/<name>'), got {napps!r}")
    for index, napp in enumerate(napps):
        if not isinstance(napp, str) or not _NAPP.fullmatch(napp):
            raise SettingsError(f"NAPP_QUEUES.napps[{index}]: expected a NApp "
                                f"'<username>/<name>' (letters, digits, '_', '-'), "
                                f"got {napp!r}")
        if napp in napps[:index]:
            raise SettingsError(f"NAPP_QUEUES.napps[{index}]: {napp!r} is listed twice")
        _name(f"NAPP_QUEUES.napps[{index}]: its queue", f"{prefix}{napp}")
    binding = setting["binding"]
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(binding)
                if name is not None} if isinstance(binding, str) else None
    except ValueError:
        used = None
    if used != {"napp"}:
        raise SettingsError(f"NAPP_QUEUES.binding: expected a binding pattern using {{napp}} "
                            f"and no other field, e.g. '*.{{napp}}.#', got {binding!r}")
    config = NappQueuesConfig(enabled, prefix, tuple(napps), binding,
                              _arguments("NAPP_QUEUES.arguments", setting["arguments"]))
    for napp in napps:
        try:
            rendered = config.binding_for(napp)
        except (ValueError, IndexError, KeyError, AttributeError) as exc:
            raise SettingsError(f"NAPP_QUEUES.binding: cannot render {binding!r}: "
                                f"{exc}") from None
        if len(rendered.encode()) > 255:
            raise SettingsError(f"NAPP_QUEUES.binding: over 255 bytes for {napp!r}")
    return config


_VERBOSE_QUEUE_KEYS = {"enabled", "queue", "arguments"}


def verbose_queue_from(setting: object) -> VerboseQueueConfig:
    """VERBOSE_QUEUE, validated (also read by mq-consumer --verbose)."""
    if setting is None:  # a settings module of before VERBOSE_QUEUE: none
        return VerboseQueueConfig()
    if not isinstance(setting, Mapping) or "enabled" not in setting \
            or set(setting) - _VERBOSE_QUEUE_KEYS:
        raise SettingsError(f"VERBOSE_QUEUE: expected a dict with "
                            f"{sorted(_VERBOSE_QUEUE_KEYS)}, got {setting!r}")
    if not _flag("VERBOSE_QUEUE.enabled", setting["enabled"]) and set(setting) == {"enabled"}:
        return VerboseQueueConfig()
    if set(setting) != _VERBOSE_QUEUE_KEYS:
        raise SettingsError(f"VERBOSE_QUEUE: missing "
                            f"{sorted(_VERBOSE_QUEUE_KEYS - set(setting))}")
    return VerboseQueueConfig(_flag("VERBOSE_QUEUE.enabled", setting["enabled"]),
                              _name("VERBOSE_QUEUE.queue", setting["queue"]),
                              _arguments("VERBOSE_QUEUE.arguments", setting["arguments"]))


def _all_queues(queues: tuple[QueueSpec, ...], napp_queues: NappQueuesConfig,
                verbose: VerboseQueueConfig, exchanges: Sequence[str], dead_letter: str,
                link_status: LinkStatusConfig) -> tuple[QueueSpec, ...]:
    """QUEUES' specs, then NAPP_QUEUES' and VERBOSE_QUEUE's, in the domain scope; their names
    apart from the others'."""
    taken = {spec.name: "QUEUES" for spec in queues}
    taken[dead_letter] = "DEAD_LETTER"
    for spec in queues:  # one queue bound to several exchanges: declared with one set
        first = next(other for other in queues if other.name == spec.name)
        if first.arguments != spec.arguments:
            raise SettingsError(f"QUEUES: queue {spec.name!r} is listed with different "
                                "arguments")
    own = [("NAPP_QUEUES", napp_queues.queue(napp))
           for napp in (napp_queues.napps if napp_queues.enabled else ())]
    if verbose.enabled:
        own.append(("VERBOSE_QUEUE", verbose.queue))
    for setting, name in own:
        if name in taken:
            raise SettingsError(f"{setting}: queue {name!r} is also {taken[name]}'s: "
                                "choose another name")
        if link_status.is_status_queue(scoped(link_status.scope, name)):
            raise SettingsError(f"{setting}: queue {name!r} starts with LINK_STATUS."
                                "queue_prefix, as the links' status queues do: choose "
                                "another name")
        taken[name] = setting
    return tuple(_in_scope(spec, link_status.scope)
                 for spec in (*queues, *napp_queues.specs(exchanges), *verbose.specs(exchanges)))


def _in_scope(spec: QueueSpec, scope: str) -> QueueSpec:
    """A queue of this domain: named and bound within DOMAIN_SCOPE (bound with the scope's
    first word(s) before its binding, it gets this domain's messages only)."""
    if not scope:
        return spec
    return QueueSpec(scoped(scope, spec.name), spec.exchange, scoped(scope, spec.binding),
                     spec.arguments)


# A domain as a topic routing key's first word(s): no wildcard, no empty word; a queue
# name's characters. Dots are allowed (SDX domains are DNS names, "amlight.net").
_SCOPE = re.compile(r"[A-Za-z0-9_:/-]+(\.[A-Za-z0-9_:/-]+)*")


def domain_scope_of(settings: ModuleType, environ: Mapping[str, str]) -> str:
    """KYTOS_MQ_DOMAIN_SCOPE when set, else DOMAIN_SCOPE (default "": none)."""
    if "KYTOS_MQ_DOMAIN_SCOPE" in environ:
        return checked_scope("KYTOS_MQ_DOMAIN_SCOPE", environ["KYTOS_MQ_DOMAIN_SCOPE"].strip())
    return checked_scope("DOMAIN_SCOPE", getattr(settings, "DOMAIN_SCOPE", ""))


def checked_scope(name: str, scope: object) -> str:
    """A domain scope, validated ("" for none); a bad one raises SettingsError naming it."""
    if scope == "":
        return ""
    if not isinstance(scope, str) or len(scope) > 100 or not _SCOPE.fullmatch(scope) \
            or scope.startswith("amq."):
        raise SettingsError(f"{name}: expected a domain (at most 100 letters, digits and "
                            f"'_:/-', words joined by '.', not starting with 'amq.'; \"\" for "
                            f"none), got {scope!r}")
    return scope


_LINK_STATUS_KEYS = {"enabled", "exchange", "queue_prefix", "metadata", "link_ids"}
_LINK_STATUS_OPTIONAL = {"nni": True, "copy_routing_key": "{link_id}", "refresh_after": 240.0}


def _link_status(setting: object, scope: str = "") -> LinkStatusConfig:
    keys = _LINK_STATUS_KEYS
    if not isinstance(setting, Mapping) or not keys <= set(setting) \
            or set(setting) - keys - set(_LINK_STATUS_OPTIONAL):
        raise SettingsError(f"LINK_STATUS: expected a dict with {sorted(keys)} and optionally "
                            f"{sorted(_LINK_STATUS_OPTIONAL)}")
    setting = {**_LINK_STATUS_OPTIONAL, **setting}
    if not isinstance(setting["enabled"], bool):
        raise SettingsError("LINK_STATUS.enabled: expected true or false")
    nni = _flag("LINK_STATUS.nni", setting["nni"])
    metadata = setting["metadata"]
    if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
        raise SettingsError(f"LINK_STATUS.metadata: expected a dict, got {metadata!r}")
    link_ids = setting["link_ids"]
    if not isinstance(link_ids, list | tuple) or not all(
            isinstance(link_id, str) and link_id for link_id in link_ids):
        raise SettingsError(f"LINK_STATUS.link_ids: expected a list of link ids, "
                            f"got {link_ids!r}")
    prefix = setting["queue_prefix"]
    if prefix:
        _name("LINK_STATUS.queue_prefix", prefix)
    for link_id in link_ids:  # its queue's name and the routing key: AMQP short strings
        if len(scoped(scope, f"{prefix}{link_id}").encode(errors="surrogatepass")) > 255:
            raise SettingsError(f"LINK_STATUS.link_ids: {link_id[:60]!r}...: with queue_prefix "
                                "its queue's name is over the 255-byte limit of AMQP names")
    exchange = _name("LINK_STATUS.exchange", setting["exchange"])
    copy_route = None
    if setting["copy_routing_key"] is not None:
        try:
            copy_route = Route.from_setting(0, {"exchange": exchange,
                                                "routing_key": setting["copy_routing_key"]})
        except RoutingError as exc:
            raise SettingsError(str(exc).replace("ROUTES[0].routing_key",
                                                 "LINK_STATUS.copy_routing_key")) from None
    refresh_after = setting["refresh_after"]
    if not is_number(refresh_after) or refresh_after < 0:
        raise SettingsError(f"LINK_STATUS.refresh_after: expected seconds (0: never), "
                            f"got {refresh_after!r}")
    return LinkStatusConfig(setting["enabled"], exchange, prefix, dict(metadata),
                            frozenset(link_ids), nni, copy_route, float(refresh_after), scope)


TRANSPORTS = ("amqp", "jetstream")


def transport_name(settings: ModuleType, environ: Mapping[str, str]) -> str:
    """KYTOS_MQ_TRANSPORT when set, else settings TRANSPORT (default amqp)."""
    override = environ.get("KYTOS_MQ_TRANSPORT", "").strip()
    if override:
        if override.lower() not in TRANSPORTS:
            raise SettingsError(f"KYTOS_MQ_TRANSPORT: expected one of {', '.join(TRANSPORTS)}, "
                                f"got {override!r}")
        return override.lower()
    name = getattr(settings, "TRANSPORT", "amqp")
    if name not in TRANSPORTS:
        raise SettingsError(f"TRANSPORT: expected one of {', '.join(TRANSPORTS)}, "
                            f"got {name!r}")
    return name


def load_config(settings: ModuleType, environ: Mapping[str, str] = os.environ) -> ProducerConfig:
    """Validate every setting; raise SettingsError naming the first bad one."""
    source = settings.SOURCE_EVENTS
    try:
        re.compile(source)
    except (re.error, TypeError) as exc:
        raise SettingsError(f"SOURCE_EVENTS: invalid regex {source!r}: {exc}") from None
    if settings.EXCHANGE_TYPE not in _EXCHANGE_TYPES:
        raise SettingsError(f"EXCHANGE_TYPE: expected one of {', '.join(_EXCHANGE_TYPES)}, "
                            f"got {settings.EXCHANGE_TYPE!r}")
    scope = domain_scope_of(settings, environ)
    if not isinstance(settings.ROUTES, list | tuple):
        raise SettingsError(f"ROUTES: expected a list of routes (dicts), got {settings.ROUTES!r}")
    try:
        router = Router([Route.from_setting(i, r) for i, r in enumerate(settings.ROUTES)],
                        scope)
    except RoutingError as exc:
        raise SettingsError(str(exc)) from None
    max_in_flight = int(_positive("MAX_IN_FLIGHT", settings.MAX_IN_FLIGHT, int))
    buffer_size = int(_positive("BUFFER_SIZE", settings.BUFFER_SIZE, int))
    if buffer_size < max_in_flight:
        raise SettingsError(f"BUFFER_SIZE: must be at least MAX_IN_FLIGHT ({max_in_flight}), "
                            f"got {buffer_size}")
    transport = transport_name(settings, environ)
    link_status = _link_status(settings.LINK_STATUS, scope)
    dead_letter = _name("DEAD_LETTER", settings.DEAD_LETTER)
    napp_queues = napp_queues_from(getattr(settings, "NAPP_QUEUES", None))
    verbose_queue = verbose_queue_from(getattr(settings, "VERBOSE_QUEUE", None))
    return ProducerConfig(
        transport=transport,
        broker=broker_from_env(environ) if transport == "amqp" else None,
        source_events=source,
        router=router,
        queues=_all_queues(_queues(settings.QUEUES), napp_queues, verbose_queue,
                           router.exchanges, dead_letter, link_status),
        link_status=link_status,
        dead_letter=dead_letter,
        exchange_type=settings.EXCHANGE_TYPE,
        max_in_flight=max_in_flight,
        buffer_size=buffer_size,
        max_waiting=int(_positive("MAX_WAITING", getattr(settings, "MAX_WAITING", 50_000), int)),
        retry_interval=_positive("RETRY_INTERVAL", settings.RETRY_INTERVAL, float),
        publish_timeout=_positive("PUBLISH_TIMEOUT", settings.PUBLISH_TIMEOUT, float),
        heartbeat=int(_positive("HEARTBEAT", settings.HEARTBEAT, int)),
        alarm_reminder_interval=_positive("ALARM_REMINDER_INTERVAL",
                                          settings.ALARM_REMINDER_INTERVAL, float),
        shutdown_flush_timeout=_positive("SHUTDOWN_FLUSH_TIMEOUT",
                                         settings.SHUTDOWN_FLUSH_TIMEOUT, float),
        max_message_bytes=_message_bytes(settings.MAX_MESSAGE_BYTES),
        amqp_fast_path=_flag("AMQP_FAST_PATH", getattr(settings, "AMQP_FAST_PATH", True)),
        confirm_read_linger=_confirm_read_linger(
            getattr(settings, "CONFIRM_READ_LINGER_MS", 5)),
        queue_type=queue_type_of(settings),
        napp_queues=napp_queues,
        verbose_queue=verbose_queue,
        domain_scope=scope,
    )
