"""The NATS server's location and credentials (KYTOS_NATS_URL) and the limits of the streams
the JetStream transport creates (setting JETSTREAM). Imports no client library."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from urllib.parse import unquote

from ...checks import Secret, SettingsError, is_number, split_url

DEFAULT_NATS_PORT = 4222


@dataclass(frozen=True)
class NatsSettings:
    """Where the NATS server is and how to log in; ``password`` and ``token`` are Secrets."""

    scheme: str  # nats or tls
    host: str
    port: int
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None

    @property
    def server(self) -> str:
        """The URL without credentials: these are handed to the client separately."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def display(self) -> str:
        """The URL as it may be logged or shown."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.username is not None:
            return f"{self.scheme}://{self.username}:***@{host}:{self.port}"
        if self.token is not None:
            return f"{self.scheme}://***@{host}:{self.port}"
        return f"{self.scheme}://{host}:{self.port}"

    def secrets(self) -> tuple[str, ...]:
        """The values to scrub from any text before it is logged."""
        return tuple(secret.reveal() for secret in (self.password, self.token)
                     if secret is not None and secret.reveal())


def nats_from_env(environ: Mapping[str, str]) -> NatsSettings:
    """KYTOS_NATS_URL: nats://[user:password@ | token@]host[:port], or tls://..."""
    url = environ.get("KYTOS_NATS_URL", "").strip()
    if not url:
        raise SettingsError("KYTOS_NATS_URL: required with the jetstream transport, e.g. "
                            "nats://user:password@host:4222")
    parts, port = split_url(url, "KYTOS_NATS_URL", ("nats", "tls"),
                            "nats://user:password@host:port or tls://...")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError("KYTOS_NATS_URL: expected no path, query or fragment after the "
                            "host and port")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and password is None:  # nats://TOKEN@host
        return NatsSettings(parts.scheme, parts.hostname, port or DEFAULT_NATS_PORT,
                            token=Secret(username))
    if username is None and password:
        raise SettingsError("KYTOS_NATS_URL: a password without a user name")
    return NatsSettings(parts.scheme, parts.hostname, port or DEFAULT_NATS_PORT, username,
                        Secret(password) if password is not None else None)


@dataclass(frozen=True)
class JetStreamOptions:
    """Limits of the streams the JetStream transport creates (setting JETSTREAM)."""

    max_msgs: int = 100_000  # per exchange stream; the oldest are discarded past it
    max_bytes: int = -1
    max_age: float = 0.0  # seconds; 0 keeps messages until max_msgs / max_bytes
    duplicate_window: float = 120.0  # seconds a Nats-Msg-Id is remembered
    storage: str = "file"
    replicas: int = 1


_JETSTREAM_KEYS = ("max_msgs", "max_bytes", "max_age", "duplicate_window", "storage",
                   "replicas")


def jetstream_options(setting: object) -> JetStreamOptions:
    if setting is None:
        return JetStreamOptions()
    if not isinstance(setting, Mapping) or set(setting) - set(_JETSTREAM_KEYS):
        raise SettingsError(f"JETSTREAM: expected a dict with keys among "
                            f"{', '.join(_JETSTREAM_KEYS)}, got {setting!r}")
    values = {**asdict(JetStreamOptions()), **setting}
    for key in ("max_msgs", "max_bytes"):
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int) or value == 0 or value < -1:
            raise SettingsError(f"JETSTREAM.{key}: expected a positive integer or -1 "
                                f"(unlimited), got {value!r}")
    for key in ("max_age", "duplicate_window"):
        value = values[key]
        if not is_number(value) or value < 0:
            raise SettingsError(f"JETSTREAM.{key}: expected seconds (>= 0), got {value!r}")
    if values["duplicate_window"] == 0:
        raise SettingsError("JETSTREAM.duplicate_window: must be positive: it is what makes "
                            "retries idempotent")
    if values["max_age"] and values["duplicate_window"] > values["max_age"]:
        raise SettingsError("JETSTREAM.duplicate_window: must not exceed max_age")
    if values["storage"] not in ("file", "memory"):
        raise SettingsError(f"JETSTREAM.storage: expected 'file' or 'memory', "
                            f"got {values['storage']!r}")
    replicas = values["replicas"]
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 5:
        raise SettingsError(f"JETSTREAM.replicas: expected 1 to 5, got {replicas!r}")
    return JetStreamOptions(**values)
