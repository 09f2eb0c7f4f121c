"""The AMQP broker's location, credentials and TLS, from the environment (KYTOS_MQ_URL, or
KYTOS_MQ_HOST and its companions, and KYTOS_MQ_CA_FILE / _CERT_FILE / _KEY_FILE).

Shared by the producer and mq-consumer; it imports no client library.
"""

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from ...checks import Secret, SettingsError


def _no_key_password() -> str:
    # Without this OpenSSL would prompt on the terminal for an encrypted key's passphrase.
    raise ValueError("the private key is encrypted: give an unencrypted key file, readable "
                     "only by the user running Kytos")


@dataclass(frozen=True)
class BrokerSettings:
    """Where the broker is and how to log in; ``password`` is a Secret."""

    scheme: str
    host: str
    port: int
    username: str
    password: Secret
    vhost: str
    # TLS (amqps only): CA bundle to verify the broker with (None: the system's CAs), and the
    # client certificate and its key when the broker asks for one. Paths, checked at load.
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every connection (producer and consumer), None without TLS.

        The broker's certificate and host name are always verified.
        """
        if self.scheme != "amqps":
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file, password=_no_key_password)
        return context

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


_TLS_FILES = (("KYTOS_MQ_CA_FILE", "ca_file"), ("KYTOS_MQ_CERT_FILE", "cert_file"),
              ("KYTOS_MQ_KEY_FILE", "key_file"))


def _with_tls_files(broker: BrokerSettings, environ: Mapping[str, str]) -> BrokerSettings:
    """Add KYTOS_MQ_CA_FILE / _CERT_FILE / _KEY_FILE: readable files, amqps only."""
    files: dict[str, str] = {}
    for variable, field in _TLS_FILES:
        path = environ.get(variable, "").strip()
        if not path:
            continue
        if broker.scheme != "amqps":
            raise SettingsError(f"{variable}: only meaningful with TLS; use amqps:// in "
                                "KYTOS_MQ_URL or KYTOS_MQ_TLS=true, or unset it")
        if not os.path.isfile(path):
            raise SettingsError(f"{variable}: {path!r} is not a file")
        try:
            with open(path, "rb") as file:
                file.read(1)
        except OSError as exc:
            raise SettingsError(f"{variable}: cannot read {path!r}: {exc.strerror}") from None
        files[field] = path
    if "key_file" in files and "cert_file" not in files:
        raise SettingsError("KYTOS_MQ_KEY_FILE: given without KYTOS_MQ_CERT_FILE (the client "
                            "certificate it belongs to)")
    broker = BrokerSettings(broker.scheme, broker.host, broker.port, broker.username,
                            broker.password, broker.vhost, **files)
    if "ca_file" in files:
        try:
            ssl.create_default_context(cafile=files["ca_file"])
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise SettingsError(f"KYTOS_MQ_CA_FILE: no CA certificate (PEM) could be loaded "
                                f"from {files['ca_file']!r}: {exc}") from None
    if "cert_file" in files:
        names = " / ".join(variable for variable, field in _TLS_FILES[1:] if field in files)
        try:
            broker.ssl_context()
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise SettingsError(f"{names}: cannot load the client certificate and its key "
                                f"(PEM): {exc}") from None
    return broker


def connection_error_text(broker: BrokerSettings, error: BaseException) -> str:
    """Why a connection failed, without the password, saying what to fix for TLS errors."""
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    cause = next((item for item in chain if isinstance(item, ssl.SSLError)), None)
    if isinstance(cause, ssl.SSLCertVerificationError):
        text = (f"TLS: the broker's certificate was not accepted ({cause.verify_message}); "
                "check KYTOS_MQ_CA_FILE "
                f"({broker.ca_file or 'not set: the system CAs are used'}) and the host name")
    elif isinstance(cause, ssl.SSLError) and "CERTIFICATE_REQUIRED" in str(cause):
        text = ("TLS: the broker requires a client certificate; set KYTOS_MQ_CERT_FILE and "
                f"KYTOS_MQ_KEY_FILE ({cause.reason})")
    elif isinstance(cause, ssl.SSLError):
        text = f"TLS handshake failed: {cause.reason or cause}"
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if broker.scheme == "amqps" and not broker.cert_file \
                and any(isinstance(item, ConnectionResetError) for item in chain):
            # TLS 1.3: a broker that wants a client certificate may just reset the connection
            text += ("; if the broker requires a client certificate, set KYTOS_MQ_CERT_FILE "
                     "and KYTOS_MQ_KEY_FILE")
    password = broker.password.reveal()
    return text.replace(password, "***") if password else text


def broker_from_env(environ: Mapping[str, str]) -> BrokerSettings:
    """Read KYTOS_MQ_URL, or KYTOS_MQ_HOST and its companions, and the TLS files."""
    return _with_tls_files(_broker_location(environ), environ)


def _broker_location(environ: Mapping[str, str]) -> BrokerSettings:
    url = environ.get("KYTOS_MQ_URL", "").strip()
    if url:
        try:
            parts = urlsplit(url)
        except ValueError:  # its text may quote a piece of an unescaped password
            raise SettingsError("KYTOS_MQ_URL: malformed URL (an IPv6 host goes in brackets; "
                                "escape special characters of the user and password as %XX)"
                                ) from None
        if parts.scheme not in ("amqp", "amqps"):
            raise SettingsError("KYTOS_MQ_URL: expected amqp://user:password@host:port/vhost "
                                f"or amqps://..., got scheme {parts.scheme!r}")
        if "@" in parts.path + parts.query + parts.fragment:  # a password cut by '/', '?', '#'
            raise SettingsError("KYTOS_MQ_URL: '@' after the host: escape '/', '?' and '#' in "
                                "the user and password (and '@' in the vhost) as %XX")
        try:
            port = parts.port
        except ValueError:  # its text may quote a piece of an unescaped password
            port = 0
        if port == 0:
            raise SettingsError("KYTOS_MQ_URL: invalid port: expected a number 1-65535 after "
                                "the host (escape '/', '?', '#', '@' and ':' in the user and "
                                "password as %XX)")
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
