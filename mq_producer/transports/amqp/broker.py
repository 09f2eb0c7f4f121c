"""The AMQP broker's location, credentials and TLS, from the environment (KYTOS_MQ_URL, or
KYTOS_MQ_HOST and its companions, and KYTOS_MQ_CA_FILE / _CERT_FILE / _KEY_FILE).

A broker may be a cluster: KYTOS_MQ_URL takes a comma-separated list of URLs (one per node,
the same user, password, vhost and scheme; split only where a comma is followed by a
scheme), KYTOS_MQ_HOST a comma-separated list of ``host[:port]``. Connections go to the
nodes in turn (``BrokerSettings.node``), starting with the first; TLS and credentials apply
to all.

Shared by the producer and mq-consumer; it imports no client library.
"""

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote

from ...checks import Secret, SettingsError, split_url


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
    # Every node of the cluster, (host, port), the first being ``host`` and ``port``; empty
    # for a single node.
    nodes: tuple[tuple[str, int], ...] = ()

    @property
    def node_count(self) -> int:
        return max(len(self.nodes), 1)

    def node(self, index: int) -> "BrokerSettings":
        """The settings for node ``index`` (modulo the number of nodes): connect to it."""
        if not self.nodes:
            return self
        host, port = self.nodes[index % len(self.nodes)]
        return replace(self, host=host, port=port)

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
                f"{quote(self.password.reveal(), safe='')}@{_host(self.host)}:{self.port}/"
                f"{quote(self.vhost, safe='')}")

    @property
    def display(self) -> str:
        """The URL as it may be logged or shown (the node in use, for a cluster)."""
        return (f"{self.scheme}://{self.username}:***@{_host(self.host)}:{self.port}/"
                f"{quote(self.vhost, safe='')}")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


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
    broker = replace(broker, **files)
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
    elif "got <Connection.Close" in str(error):
        # aiormq puts the broker's Connection.Close, and its reason, only in its error's text.
        # RabbitMQ closes at Connection.Open (after the login) for the vhost alone.
        text = (f"the broker closed the connection at Connection.Open: the vhost "
                f"{broker.vhost!r} does not exist, or the user {broker.username!r} has no "
                "access to it (the vhost is the URL's path: '/' is %2F)")
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
    tls_text = environ.get("KYTOS_MQ_TLS", "").strip().lower()
    if tls_text not in _TRUE | _FALSE:
        raise SettingsError(f"KYTOS_MQ_TLS: expected true or false, got {tls_text!r}")
    url = environ.get("KYTOS_MQ_URL", "").strip()
    if url:
        # Split only before a scheme: a comma may stand unescaped in a password.
        entries = [entry.strip() for entry in re.split(r",\s*(?=amqps?://)", url)]
        brokers = [_from_url(entry, f"KYTOS_MQ_URL entry {index}" if len(entries) > 1
                             else "KYTOS_MQ_URL")
                   for index, entry in enumerate(entries, 1)]
        first = brokers[0]
        for index, broker in enumerate(brokers[1:], 2):
            if (broker.scheme, broker.username, broker.password.reveal(), broker.vhost) != \
                    (first.scheme, first.username, first.password.reveal(), first.vhost):
                raise SettingsError(f"KYTOS_MQ_URL entry {index} ({broker.display}): every "
                                    "node takes the scheme, user, password and vhost of the "
                                    "first")
        if tls_text and (tls_text in _TRUE) != (first.scheme == "amqps"):
            # Say so rather than pick one: KYTOS_MQ_TLS=true over amqp:// would be plain text.
            raise SettingsError(f"KYTOS_MQ_TLS: {tls_text!r} contradicts KYTOS_MQ_URL's "
                                f"{first.scheme}://, which decides: amqps:// for TLS; unset "
                                "KYTOS_MQ_TLS or make them agree")
        return _cluster(first, [(broker.host, broker.port) for broker in brokers])
    host_text = environ.get("KYTOS_MQ_HOST", "").strip()
    if not host_text:
        raise SettingsError("KYTOS_MQ_URL or KYTOS_MQ_HOST: one must be set to locate the broker")
    scheme = "amqps" if tls_text in _TRUE else "amqp"
    username = environ.get("KYTOS_MQ_USERNAME", "guest")
    password = environ.get("KYTOS_MQ_PASSWORD")
    if password is None:
        if username != "guest":
            raise SettingsError("KYTOS_MQ_PASSWORD: required when KYTOS_MQ_USERNAME is set")
        password = "guest"  # RabbitMQ's default user, accepted on loopback only
    port_text = environ.get("KYTOS_MQ_PORT", "5671" if scheme == "amqps" else "5672")
    port = _port("KYTOS_MQ_PORT", port_text.strip())
    entries = [entry.strip() for entry in host_text.split(",")]
    nodes = [_host_port(entry, port, f"KYTOS_MQ_HOST entry {index}" if len(entries) > 1
                        else "KYTOS_MQ_HOST") for index, entry in enumerate(entries, 1)]
    broker = BrokerSettings(scheme, nodes[0][0], nodes[0][1], username, Secret(password),
                            environ.get("KYTOS_MQ_VHOST", "/"))
    return _cluster(broker, nodes)


def _cluster(broker: BrokerSettings, nodes: list[tuple[str, int]]) -> BrokerSettings:
    if len(nodes) == 1:
        return broker
    seen: set[tuple[str, int]] = set()
    for index, node in enumerate(nodes, 1):
        if node in seen:
            raise SettingsError(f"broker node {index} ({_host(node[0])}:{node[1]}) is listed "
                                "twice")
        seen.add(node)
    return replace(broker, nodes=tuple(nodes))


def _host_port(entry: str, default_port: int, name: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6 address]`` or ``[v6 address]:port``."""
    if not entry:
        raise SettingsError(f"{name}: empty (a comma too many?)")
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise SettingsError(f"{name}: expected [IPv6 address] or [IPv6 address]:port, "
                                f"got {entry!r}")
        return host, _port(name, rest[1:]) if rest else default_port
    host, colon, port_text = entry.partition(":")
    if ":" in port_text:
        raise SettingsError(f"{name}: an IPv6 address goes in brackets, got {entry!r}")
    if not host or any(char.isspace() for char in host):
        raise SettingsError(f"{name}: expected host or host:port, got {entry!r}")
    return host, _port(name, port_text) if colon else default_port


def _from_url(url: str, name: str) -> BrokerSettings:
    """One node's URL; errors name the entry and never quote the URL (it has a password)."""
    parts, port = split_url(url, name, ("amqp", "amqps"),
                            "amqp://user:password@host:port/vhost or amqps://...")
    if parts.username is None or parts.password is None:
        raise SettingsError(f"{name}: give the user and password in the URL "
                            "(amqp://user:password@host/...)")
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return BrokerSettings(parts.scheme, parts.hostname,
                          port or (5671 if parts.scheme == "amqps" else 5672),
                          unquote(parts.username), Secret(unquote(parts.password)), vhost)
