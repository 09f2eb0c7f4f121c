"""mq_producer configuration: built once from ``settings.py`` and the environment."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from urllib.parse import quote, unquote, urlsplit

from .routing import Route, Router, RoutingError


class SettingsError(ValueError):
    """A setting or environment variable of mq_producer is invalid; the message names it."""


class Secret:
    """A value that never shows itself in repr(), str() or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class BrokerSettings:
    """Where the broker is and how to log in; ``password`` is a Secret."""

    scheme: str
    host: str
    port: int
    username: str
    password: Secret
    vhost: str

    @property
    def url(self) -> str:
        """The URL with the password: give it to the client library only, never log it."""
        return (f"{self.scheme}://{quote(self.username, safe='')}:"
                f"{quote(self.password.reveal(), safe='')}@{self.host}:{self.port}/"
                f"{quote(self.vhost, safe='')}")

    @property
    def display(self) -> str:
        """The URL as it may be logged or shown."""
        return (f"{self.scheme}://{self.username}:***@{self.host}:{self.port}/"
                f"{quote(self.vhost, safe='')}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _port(name: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SettingsError(f"{name}: expected a port number 1-65535, got {text!r}")
    return int(text)


def broker_from_env(environ: Mapping[str, str]) -> BrokerSettings:
    """Read KYTOS_MQ_URL, or KYTOS_MQ_HOST and its companions."""
    url = environ.get("KYTOS_MQ_URL", "").strip()
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps"):
            raise SettingsError("KYTOS_MQ_URL: expected amqp://user:password@host:port/vhost "
                                f"or amqps://..., got scheme {parts.scheme!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise SettingsError(f"KYTOS_MQ_URL: invalid port ({exc})") from None
        if not parts.hostname:
            raise SettingsError("KYTOS_MQ_URL: no host in the URL")
        if parts.username is None or parts.password is None:
            raise SettingsError("KYTOS_MQ_URL: give the user and password in the URL "
                                "(amqp://user:password@host/...)")
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        return BrokerSettings(parts.scheme, parts.hostname,
                              port or (5671 if parts.scheme == "amqps" else 5672),
                              unquote(parts.username), Secret(unquote(parts.password)), vhost)
    host = environ.get("KYTOS_MQ_HOST", "").strip()
    if not host:
        raise SettingsError("KYTOS_MQ_URL or KYTOS_MQ_HOST: one must be set to locate the broker")
    tls_text = environ.get("KYTOS_MQ_TLS", "").strip().lower()
    if tls_text not in _TRUE | _FALSE:
        raise SettingsError(f"KYTOS_MQ_TLS: expected true or false, got {tls_text!r}")
    scheme = "amqps" if tls_text in _TRUE else "amqp"
    username = environ.get("KYTOS_MQ_USERNAME", "guest")
    password = environ.get("KYTOS_MQ_PASSWORD")
    if password is None:
        if username != "guest":
            raise SettingsError("KYTOS_MQ_PASSWORD: required when KYTOS_MQ_USERNAME is set")
        password = "guest"  # RabbitMQ's default user, accepted on loopback only
    port_text = environ.get("KYTOS_MQ_PORT", "5671" if scheme == "amqps" else "5672")
    return BrokerSettings(scheme, host, _port("KYTOS_MQ_PORT", port_text.strip()), username,
                          Secret(password), environ.get("KYTOS_MQ_VHOST", "/"))


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

    def is_interdomain(self, link: dict) -> bool:
        """Whether a link (as in envelope["link"]) gets a status queue."""
        if not self.enabled:
            return False
        if link["id"] in self.link_ids:
            return True
        metadata = link.get("metadata") or {}
        return bool(self.metadata) and all(metadata.get(key) == value
                                           for key, value in self.metadata.items())

    def queue(self, link_id: str) -> str:
        return f"{self.queue_prefix}{link_id}"


# The per-link queue holds one message and refuses the next while it waits (see LINK_STATUS).
LINK_QUEUE_ARGUMENTS: dict[str, object] = {"x-max-length": 1, "x-overflow": "reject-publish"}


@dataclass(frozen=True)
class ProducerConfig:
    broker: BrokerSettings
    source_events: str
    router: Router
    queues: tuple[QueueSpec, ...]
    link_status: LinkStatusConfig
    dead_letter: str
    exchange_type: str
    max_in_flight: int
    buffer_size: int
    retry_interval: float
    publish_timeout: float
    heartbeat: int
    alarm_reminder_interval: float
    shutdown_flush_timeout: float


def _positive(name: str, value: object, kind: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
            or (kind is int and not isinstance(value, int)):
        raise SettingsError(f"{name}: expected a positive {kind.__name__}, got {value!r}")
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


def _link_status(setting: object) -> LinkStatusConfig:
    keys = {"enabled", "exchange", "queue_prefix", "metadata", "link_ids"}
    if not isinstance(setting, Mapping) or set(setting) != keys:
        raise SettingsError(f"LINK_STATUS: expected a dict with exactly {sorted(keys)}")
    if not isinstance(setting["enabled"], bool):
        raise SettingsError("LINK_STATUS.enabled: expected true or false")
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
    return LinkStatusConfig(setting["enabled"], _name("LINK_STATUS.exchange",
                                                      setting["exchange"]),
                            prefix, dict(metadata), frozenset(link_ids))


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
    try:
        router = Router([Route.from_setting(i, r) for i, r in enumerate(settings.ROUTES)])
    except RoutingError as exc:
        raise SettingsError(str(exc)) from None
    max_in_flight = int(_positive("MAX_IN_FLIGHT", settings.MAX_IN_FLIGHT, int))
    buffer_size = int(_positive("BUFFER_SIZE", settings.BUFFER_SIZE, int))
    if buffer_size < max_in_flight:
        raise SettingsError(f"BUFFER_SIZE: must be at least MAX_IN_FLIGHT ({max_in_flight}), "
                            f"got {buffer_size}")
    return ProducerConfig(
        broker=broker_from_env(environ),
        source_events=source,
        router=router,
        queues=_queues(settings.QUEUES),
        link_status=_link_status(settings.LINK_STATUS),
        dead_letter=_name("DEAD_LETTER", settings.DEAD_LETTER),
        exchange_type=settings.EXCHANGE_TYPE,
        max_in_flight=max_in_flight,
        buffer_size=buffer_size,
        retry_interval=_positive("RETRY_INTERVAL", settings.RETRY_INTERVAL, float),
        publish_timeout=_positive("PUBLISH_TIMEOUT", settings.PUBLISH_TIMEOUT, float),
        heartbeat=int(_positive("HEARTBEAT", settings.HEARTBEAT, int)),
        alarm_reminder_interval=_positive("ALARM_REMINDER_INTERVAL",
                                          settings.ALARM_REMINDER_INTERVAL, float),
        shutdown_flush_timeout=_positive("SHUTDOWN_FLUSH_TIMEOUT",
                                         settings.SHUTDOWN_FLUSH_TIMEOUT, float),
    )
