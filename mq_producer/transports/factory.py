"""Choosing the transport: settings TRANSPORT, overridden by KYTOS_MQ_TRANSPORT.

``make_transport(config, environ)`` validates what the chosen transport needs and returns it;
a bad value raises SettingsError naming the setting or variable (main.py then disables the
NApp with that text). The client libraries are imported only here, lazily, through the
transport modules: nats-py need not be installed for AMQP, nor the reverse.
"""

import os
from collections.abc import Mapping
from types import ModuleType

from ..checks import SettingsError
from ..config import ProducerConfig
from .base import Transport
from .jetstream.settings import jetstream_options, nats_from_env
from .jetstream.subjects import destinations_for


def make_transport(config: ProducerConfig, environ: Mapping[str, str] = os.environ, *,
                   settings: ModuleType | None = None) -> Transport:
    """The transport the settings and environment choose, not connected yet."""
    if settings is None:
        from .. import settings
    if config.transport == "amqp":
        from .amqp.transport import AmqpTransport

        return AmqpTransport(config)
    server = nats_from_env(environ)
    options = jetstream_options(getattr(settings, "JETSTREAM", None))
    exchanges = [*config.router.exchanges]
    if config.link_status.enabled:
        exchanges.append(config.link_status.exchange)
    try:
        destinations_for(exchanges)
    except ValueError as exc:
        raise SettingsError(f"ROUTES / LINK_STATUS.exchange: {exc}") from None
    try:
        from .jetstream.transport import JetStreamTransport
    except ImportError as exc:
        raise SettingsError(f"TRANSPORT: 'jetstream' needs the nats-py package "
                            f"(pip install nats-py==2.16.0): {exc}") from None
    return JetStreamTransport(config, server, options)
