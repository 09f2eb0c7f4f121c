"""The aiormq internals mq_producer relies on, pinned against the installed aiormq: an upgrade
that moves them fails here, not in production (where the transport falls back and warns)."""

import inspect

import aiormq

from mq_producer.transports.amqp.transport import BLOCKED_HANDLERS


def test_the_reader_hands_connection_blocked_and_unblocked_to_the_handlers_we_wrap():
    """AmqpTransport._watch_blocked wraps these two on each connection: they must exist, and
    the connection's reader must call them by attribute (so the instance's wrapper is used)."""
    for name in BLOCKED_HANDLERS:
        assert callable(getattr(aiormq.Connection, name, None)), name
    reader = inspect.getsource(aiormq.Connection)
    assert "await self.__handle_connection_blocked(frame)" in reader
    assert "await self.__handle_connection_unblocked(frame)" in reader
