"""Where a link event's CPU goes (issue 21), in a burst and at a steady pace: each step the
NApps take for one link event, in CPU microseconds per event, beside raw aio-pika's CPU per
message published to the broker, same run.

    .venv/bin/python benchmarks/stages.py              # about 2 minutes
    .venv/bin/python benchmarks/stages.py --rounds 3 -n 5000   # quicker, noisier

Each step runs alone over N events (the best of ``--rounds`` rounds, ``time.process_time``),
outside the event loop's dispatch: what the steps cost with no wake-up, no socket and no
confirm. Their sum is thus a floor for bench.py's "the NApps' own CPU per event" in a burst,
which adds the hand-off event's dispatch, the tasks, the socket writes and the confirms:
its ratio to raw aio-pika's per message is the least bench.py's burst ratio can be.

Also, in the same run, listen_events' serialization with and without the orjson round
trip of as_dict()'s output (``listen_events.serialize.Serializer._round_trip``).

Raw aio-pika: bench.py's section 1 (the same envelope bytes and properties, 256 in flight,
publisher confirms) to an exchange and a bounded queue of this run's own, deleted at the end.

With ``--idle-ms`` (2 by default; 0: not), every step again over ``--idle-events`` events,
the thread idle that long before each one (``time.sleep``, or the loop's ``asyncio.sleep``
for a coroutine), each event timed alone (``time.thread_time``): a step as a controller
runs it at a steady pace, with the caches the idle time left it. At 500 events/s the loop
is idle about 2 ms between events. Beside it raw aio-pika publishing one message at a time,
idle between, its confirm awaited (the loop thread's CPU from the publish to the confirm),
and all the steps in a row for each event (no dispatch, no socket, no confirm): a floor for
the NApps' CPU per event at that pace. The "idle / alone" column is what the pace
multiplies each step's cost by: the reason a paced event costs more than a burst's.
"""

import argparse
import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

from listen_events import serialize
from listen_events.envelope import hand_off_form
from listen_events.pipeline import EventPipeline
from mq_producer.envelopes import decode, to_messages
from mq_producer.transports.amqp.frames import frame_chunks, publish_head

CHANNEL, MAX_BODY, CHUNK = 1, 131_064, 256 * 1024  # RabbitMQ's frame_max 131,072 less 8
LABEL = 70  # the table's first column
IDLE_ROUNDS = 3  # at most, idle: each takes --idle-events x --idle-ms


def cpu_us(step: Callable[[Any], Any], items: Sequence[Any], rounds: int,
           idle: float = 0.0) -> float:
    """CPU microseconds per item of ``step`` over ``items``, the best of ``rounds``; with
    ``idle``, the thread idle that many seconds before each item, each timed alone by the
    thread's CPU clock (the idle time not counted)."""
    best = float("inf")
    for _ in range(rounds):
        total = 0.0
        start = time.process_time()
        for item in items:
            if idle:
                time.sleep(idle)
                started = time.thread_time()
            step(item)
            if idle:
                total += time.thread_time() - started
        best = min(best, total if idle else time.process_time() - start)
    return best / len(items) * 1e6


async def async_cpu_us(step: Callable[[Any], Awaitable[Any]], items: Sequence[Any],
                       rounds: int, idle: float = 0.0) -> float:
    """``cpu_us`` of a coroutine function, awaited in turn as
    the worker awaits pipeline.process. Nothing is kept: 20,000 envelope dicts kept alive
    made the garbage collector's young collections walk them, 13 µs an event more here (the
    worker keeps none once encoded)."""
    best = float("inf")
    for _ in range(rounds):
        total = 0.0
        start = time.process_time()
        for item in items:
            if idle:
                await asyncio.sleep(idle)
                started = time.thread_time()
            await step(item)
            if idle:
                total += time.thread_time() - started
        best = min(best, total if idle else time.process_time() - start)
    return best / len(items) * 1e6


def without_round_trip(step: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def walked(item: Any) -> Any:
        saved, serialize.ROUND_TRIP_BYTES = serialize.ROUND_TRIP_BYTES, -1
        try:
            return step(item)
        finally:
            serialize.ROUND_TRIP_BYTES = saved
    return walked


async def raw_cpu_us(url: str, messages: Sequence[Any], idle: float, idle_count: int,
                     idle_rounds: int) -> tuple[float, float | None]:
    """Raw aio-pika's CPU per message, pipelined with confirms (bench.py's section 1); and,
    with ``idle``, one message at a time over ``idle_count`` (the best of ``idle_rounds``),
    the thread idle ``idle`` seconds before each publish, the loop thread's CPU from the
    publish to its confirm."""
    name = f"bench.{uuid.uuid4().hex[:8]}.stages"
    connection = await bench.aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(name, bench.aio_pika.ExchangeType.TOPIC,
                                                  auto_delete=True)
        queue = await channel.declare_queue(name, arguments={"x-max-length": 1000})
        await queue.bind(exchange, "#")
        try:
            await bench.publish_pipelined(exchange, messages[:1000])  # warm-up
            result = await bench.publish_pipelined(exchange, messages)
            returned = result.returned

            async def publish(message: Any) -> None:
                nonlocal returned
                confirmed = await exchange.publish(
                    bench.amqp_message(message), message.routing_key, mandatory=True,
                    timeout=bench.PUBLISH_TIMEOUT)
                returned += isinstance(confirmed, bench.DeliveredMessage)

            idle_us = await async_cpu_us(publish, messages[:idle_count], idle_rounds, idle) \
                if idle else None
        finally:
            await queue.delete(if_unused=False, if_empty=False)
            await exchange.delete()
    finally:
        await connection.close()
    if returned:
        raise SystemExit(f"{returned} messages returned: the baseline is not valid")
    return result.cpu / result.messages * 1e6, idle_us


Row = tuple[str, float, float | None, bool]  # step, us per event alone / idle, summed


async def main_async(options: argparse.Namespace) -> None:
    links = [bench.make_link(index) for index in range(1, options.links + 1)]
    events = list(bench.LinkEvents(links, options.events))
    listen_config = bench.load_listen_config(bench.listen_settings)
    producer_config = bench.load_producer_config(bench.producer_settings)
    pipeline = EventPipeline(listen_config)
    contents = [event.content for event in events]
    rounds, idle, few = options.rounds, options.idle_ms / 1000, options.idle_events
    idle_rounds = min(rounds, IDLE_ROUNDS)

    def measured(step: Callable[[Any], Any], items: Sequence[Any]) -> tuple[float, float | None]:
        return (cpu_us(step, items, rounds),
                cpu_us(step, items[:few], idle_rounds, idle) if idle else None)

    rows: list[Row] = []
    with_trip = measured(serialize.serialize_content, contents)
    walk_only = measured(without_round_trip(serialize.serialize_content), contents)
    logging.disable(logging.WARNING)  # core's speed warnings, which the NApps never cause
    try:
        rows.append(("core's Link.as_dict() alone (its warnings off)",
                     *measured(lambda content: content["link"].as_dict(), contents), False))
    finally:
        logging.disable(logging.NOTSET)
    rows.append(("  listen_events' serialization (quiet as_dict, round trip)", *with_trip,
                 False))
    rows.append(("  the same, walked (no round trip)", *walk_only, False))
    async def process(event: Any) -> list[Any]:
        return await pipeline.process(event.name, event.id, event.timestamp, event.content)

    async def measured_async(step: Callable[[Any], Awaitable[Any]]
                             ) -> tuple[float, float | None]:
        return (await async_cpu_us(step, events, rounds),
                await async_cpu_us(step, events[:few], idle_rounds, idle) if idle else None)

    rows.append(("listen_events: classify, filter, serialize, build the envelope",
                 *await measured_async(process), True))
    envelopes = [envelope for event in events for envelope in await process(event)]
    bodies = [hand_off_form(envelope) for envelope in envelopes]
    rows.append(("listen_events: encode it for the hand-off (orjson)",
                 *measured(hand_off_form, envelopes), True))
    router, link_status = producer_config.router, producer_config.link_status
    max_bytes, now = producer_config.max_message_bytes, time.time()

    def routed(body: bytes) -> Any:
        return to_messages(decode(body), router, link_status, now, max_bytes, body)

    rows.append(("mq_producer: decode, check and route it", *measured(routed, bodies), True))
    messages = [message for body in bodies for message in routed(body)]

    def framed(message: Any) -> Any:
        head = publish_head(CHANNEL, exchange=message.exchange, routing_key=message.routing_key,
                            body_size=len(message.body), message_id=message.message_id,
                            timestamp=int(message.timestamp), message_type=message.event_name)
        return list(frame_chunks(CHANNEL, MAX_BODY, CHUNK, [(head, message.body)]))

    rows.append(("mq_producer: its AMQP frames", *measured(framed, messages), True))

    async def in_a_row(event: Any) -> None:
        for envelope in await process(event):
            for message in routed(hand_off_form(envelope)):
                framed(message)

    raw, raw_idle = await raw_cpu_us(options.url, messages, idle, few, idle_rounds)
    summed = sum(row[1] for row in rows if row[3])
    rows.append(("the steps, summed; idle: in a row (no dispatch, socket, confirm)",
                 summed, (await measured_async(in_a_row))[1], False))
    report(rows, raw, raw_idle)
    print(f"\n{len(events)} link events over {len(links)} links, best of {rounds} rounds"
          + (f" ({few} events each with {options.idle_ms:g} ms idle before each)" if idle
             else "") + f"; python {sys.version.split()[0]}; envelope {len(bodies[0])} bytes")
    print(f"serialization with / without the round trip: {with_trip[0] / walk_only[0]:.2f}")
    print(f"bench.py's burst ratio (the NApps' own / raw, issue 21 target 0.7) is at least "
          f"{summed / raw:.2f} here")


def report(rows: list[Row], raw: float, raw_idle: float | None) -> None:
    """The table: each step alone (over raw's pipelined) and, idle, each timed alone (over
    raw's one at a time, idle between), and what the idle time multiplied its cost by."""
    header = f"{'step, CPU us per event':<{LABEL}} {'alone':>7} {'/ raw':>6}"
    if raw_idle is not None:
        header += f" {'idle':>7} {'/ raw':>6} {'idle / alone':>12}"
    print(header)
    rows = [*rows, ("raw aio-pika per message (pipelined, 256 in flight; idle: one by one)",
                    raw, raw_idle, False)]
    for step, alone, idle, _ in rows:
        line = f"{step:<{LABEL}} {alone:7.1f} {alone / raw:6.2f}"
        if raw_idle is not None and idle is not None:
            line += f" {idle:7.1f} {idle / raw_idle:6.2f} {idle / alone:12.1f}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--events", type=int, default=20_000, help="events (20000)")
    parser.add_argument("--links", type=int, default=100, help="links the events cycle over")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each step (5)")
    parser.add_argument("--idle-ms", type=float, default=2.0,
                        help="each step also with the thread idle this long before each event "
                             "(2; 0: not)")
    parser.add_argument("--idle-events", type=int, default=1000,
                        help="events of each step measured idle (1000)")
    parser.add_argument("--url", default=bench.os.environ["KYTOS_MQ_URL"],
                        help="the broker of the raw baseline (KYTOS_MQ_URL)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
