"""Queue depth and consumer count on demand, for the web UI panel: a passive declare of each
queue, on a short-lived connection of its own (never the publishing one), closed at once.

A passive declare creates nothing and changes nothing; a queue that does not exist (404)
closes the channel it was asked on, so the next queue gets a new channel. Errors never carry
the password (``connection_error_text``).
"""

import asyncio
import contextlib
from collections.abc import Sequence

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from ..base import TransportError
from .broker import BrokerSettings, connection_error_text
from .connection import robust_connection

_BROKER_ERRORS = (aiormq.exceptions.AMQPError, aio_pika.exceptions.AMQPException,
                  ConnectionError, OSError, RuntimeError)
CLOSE_TIMEOUT = 2.0


async def queue_depths(broker: BrokerSettings, names: Sequence[str],
                       within: float) -> dict[str, dict[str, object]]:
    """``{name: {"messages": int | None, "consumers": int | None, "error": str | None}}`` for
    each queue, asked in ``within`` seconds at most for the connection, as much again for
    the questions. Raises TransportError when the broker cannot be reached (the text names
    it without the password)."""
    connection = robust_connection(broker, "kytos/mq_producer queue inspection")
    timeout = within
    try:
        try:
            async with asyncio.timeout(timeout):
                await connection.connect(timeout=timeout)
        except TimeoutError:
            raise TransportError(f"no answer from {broker.display} in {timeout}s") from None
        except (*_BROKER_ERRORS, ValueError) as exc:
            raise TransportError(f"cannot connect to {broker.display}: "
                                 f"{connection_error_text(broker, exc)}") from None
        answers: dict[str, dict[str, object]] = {}
        try:
            async with asyncio.timeout(timeout):
                await _ask_each(connection, broker, names, answers)
        except TimeoutError:
            for name in names:
                answers.setdefault(name, _unknown(f"no answer from the broker in {timeout}s"))
        return answers
    finally:
        with contextlib.suppress(*_BROKER_ERRORS, TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await connection.close()


async def _ask_each(connection: AbstractRobustConnection, broker: BrokerSettings,
                    names: Sequence[str], answers: dict[str, dict[str, object]]) -> None:
    channel: AbstractChannel | None = None
    try:
        for name in names:
            if channel is None or channel.is_closed:
                # Not the robust connection's channel(): a robust channel closed by a 404
                # would reopen itself.
                try:
                    channel = await aio_pika.Channel(connection, publisher_confirms=False)
                except _BROKER_ERRORS as exc:
                    reason = f"cannot open a channel: {connection_error_text(broker, exc)}"
                    for rest in names:
                        answers.setdefault(rest, _unknown(reason))
                    return
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                answers[name] = _unknown("not found on the broker")
                continue
            except aiormq.exceptions.ChannelAccessRefused:
                answers[name] = _unknown(f"user {broker.username!r} may not inspect it")
                continue
            except _BROKER_ERRORS as exc:
                answers[name] = _unknown(connection_error_text(broker, exc))
                continue
            result = queue.declaration_result
            answers[name] = {"messages": result.message_count,
                             "consumers": result.consumer_count, "error": None}
    finally:
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(*_BROKER_ERRORS, TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await channel.close()


def _unknown(reason: str) -> dict[str, object]:
    return {"messages": None, "consumers": None, "error": reason}
