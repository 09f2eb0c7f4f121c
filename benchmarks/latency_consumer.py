"""Latency probe for benchmarks/bench.py, run as its own process (not on the controller's loop).

Declares a transient queue, binds it to an exchange with ``#``, prints ``ready`` once bound,
then records the wall-clock arrival time of every message (auto-ack, nothing else done on
arrival). At the end - COUNT messages or TIMEOUT seconds after ``ready`` - it prints one JSON
line: the latencies in seconds, each = arrival time - send time, where the send time is the
``x-bench-sent-us`` header when present (raw aio-pika baseline; integer microseconds, as
AMQP tables carry floats in single precision) or else the envelope's
``event_timestamp`` (the KytosEvent's creation time). Both clocks are this host's
``CLOCK_REALTIME``, so no clock offset enters the figures.

Usage: latency_consumer.py EXCHANGE QUEUE COUNT TIMEOUT   (broker: KYTOS_MQ_URL, so that
no password shows in the process list)
"""

import asyncio
import contextlib
import datetime as dt
import os
import sys
import time

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage


def sent_time(headers: dict[str, object], body: bytes) -> float:
    header = headers.get("x-bench-sent-us")
    if isinstance(header, int):
        return header / 1e6
    stamp = orjson.loads(body)["event_timestamp"]
    return dt.datetime.fromisoformat(stamp).timestamp()


async def consume(url: str, exchange: str, queue_name: str, count: int, limit: float) -> None:
    arrivals: list[tuple[float, dict[str, object], bytes]] = []
    done = asyncio.Event()

    def on_message(message: AbstractIncomingMessage) -> None:
        arrivals.append((time.time(), dict(message.headers), message.body))
        if len(arrivals) >= count:
            done.set()

    async def callback(message: AbstractIncomingMessage) -> None:
        on_message(message)

    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=False, auto_delete=True)
        await queue.bind(exchange, "#")
        tag = await queue.consume(callback, no_ack=True)
        print("ready", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), limit)
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    latencies = [arrival - sent_time(headers, body) for arrival, headers, body in arrivals]
    sys.stdout.write(orjson.dumps(latencies).decode() + "\n")
    sys.stdout.flush()


def main() -> None:
    exchange, queue_name, count, timeout = sys.argv[1:5]
    asyncio.run(consume(os.environ["KYTOS_MQ_URL"], exchange, queue_name, int(count),
                        float(timeout)))


if __name__ == "__main__":
    main()
