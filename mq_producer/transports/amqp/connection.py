"""The robust AMQP connection of the producer and of mq-consumer, and the filter that keeps
the client's per-attempt reconnection lines out of the log."""

import logging

import aio_pika
from aio_pika.connection import make_url

from .broker import BrokerSettings


class _ReconnectNoise(logging.Filter):
    """Drops the client's line-per-attempt reconnection logs: the outage alarm reports
    unreachability once, with reminders, and on recovery."""

    _NOISE = ("error when creating transport", "Connection attempt to", "Reconnect attempt")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self._NOISE))


for _logger in ("aiormq.connection", "aio_pika.robust_connection"):
    logging.getLogger(_logger).addFilter(_ReconnectNoise())

def robust_connection(broker: BrokerSettings, name: str,
                      **options: float) -> aio_pika.RobustConnection:
    """What ``aio_pika.connect_robust()`` makes, not connected yet (``await connect()``): kept
    by the caller before it connects, a connect cut short (a timeout, a shutdown) leaves an
    object the caller can close. connect_robust() keeps it to itself, and its own task then
    went on reconnecting for good, out of reach (and held up loop shutdowns)."""
    return aio_pika.RobustConnection(
        make_url(broker.url, **options), ssl_context=broker.ssl_context(),
        client_properties={"connection_name": name}, **options)
