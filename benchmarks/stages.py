"""Where a burst event's CPU goes (issue 21): each step the NApps take for one link event,
in CPU microseconds per event, beside raw aio-pika's CPU per message published to the
broker, same run.

    .venv/bin/python benchmarks/stages.py              # about 20 s
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
"""

import argparse
import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
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


def cpu_us(step: Callable[[Any], Any], items: Sequence[Any], rounds: int) -> float:
    """CPU microseconds per item of ``step`` over ``items``, the best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for item in items:
            step(item)
        best = min(best, time.process_time() - start)
    return best / len(items) * 1e6


async def processed(pipeline: EventPipeline, events: Sequence[Any], rounds: int
                    ) -> tuple[float, list[Any]]:
    """pipeline.process per event (a coroutine: awaited in turn, as the worker does), the
    best of ``rounds``, and the envelopes of one more round, untimed. The timed rounds keep
    no envelope, as the worker keeps none once encoded: 20,000 envelope dicts kept alive
    made the garbage collector's young collections walk them, 13 µs an event more here."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for event in events:
            await pipeline.process(event.name, event.id, event.timestamp, event.content)
        best = min(best, time.process_time() - start)
    envelopes = []
    for event in events:
        envelopes.extend(await pipeline.process(event.name, event.id, event.timestamp,
                                                event.content))
    return best / len(events) * 1e6, envelopes


def without_round_trip(step: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def walked(item: Any) -> Any:
        saved, serialize.ROUND_TRIP_BYTES = serialize.ROUND_TRIP_BYTES, -1
        try:
            return step(item)
        finally:
            serialize.ROUND_TRIP_BYTES = saved
    return walked


async def raw_cpu_us(url: str, messages: Sequence[Any]) -> float:
    """Raw aio-pika's CPU per message, pipelined with confirms (bench.py's section 1)."""
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
        finally:
            await queue.delete(if_unused=False, if_empty=False)
            await exchange.delete()
    finally:
        await connection.close()
    if result.returned:
        raise SystemExit(f"{result.returned} messages returned: the baseline is not valid")
    return result.cpu / result.messages * 1e6


async def main_async(options: argparse.Namespace) -> None:
    links = [bench.make_link(index) for index in range(1, options.links + 1)]
    events = list(bench.LinkEvents(links, options.events))
    listen_config = bench.load_listen_config(bench.listen_settings)
    producer_config = bench.load_producer_config(bench.producer_settings)
    pipeline = EventPipeline(listen_config)
    contents = [event.content for event in events]
    rounds = options.rounds

    rows: list[tuple[str, float, bool]] = []  # (step, us per event, counted in the sum)
    with_trip = cpu_us(serialize.serialize_content, contents, rounds)
    walk_only = cpu_us(without_round_trip(serialize.serialize_content), contents, rounds)
    logging.disable(logging.WARNING)  # core's speed warnings, which the NApps never cause
    try:
        rows.append(("core's Link.as_dict() alone (its warnings off)",
                     cpu_us(lambda content: content["link"].as_dict(), contents, rounds), False))
    finally:
        logging.disable(logging.NOTSET)
    rows.append(("  listen_events' serialization (quiet as_dict, round trip)", with_trip, False))
    rows.append(("  the same, walked (no round trip)", walk_only, False))
    process_us, envelopes = await processed(pipeline, events, rounds)
    rows.append(("listen_events: classify, filter, serialize, build the envelope", process_us,
                 True))
    bodies = [hand_off_form(envelope) for envelope in envelopes]
    rows.append(("listen_events: encode it for the hand-off (orjson)",
                 cpu_us(hand_off_form, envelopes, rounds), True))
    router, link_status = producer_config.router, producer_config.link_status
    max_bytes, now = producer_config.max_message_bytes, time.time()

    def routed(body: bytes) -> Any:
        return to_messages(decode(body), router, link_status, now, max_bytes, body)

    rows.append(("mq_producer: decode, check and route it", cpu_us(routed, bodies, rounds),
                 True))
    messages = [message for body in bodies for message in routed(body)]

    def framed(message: Any) -> Any:
        head = publish_head(CHANNEL, exchange=message.exchange, routing_key=message.routing_key,
                            body_size=len(message.body), message_id=message.message_id,
                            timestamp=int(message.timestamp), message_type=message.event_name)
        return list(frame_chunks(CHANNEL, MAX_BODY, CHUNK, [(head, message.body)]))

    rows.append(("mq_producer: its AMQP frames", cpu_us(framed, messages, rounds), True))
    raw = await raw_cpu_us(options.url, messages)
    steps = sum(us for _, us, counted in rows if counted)

    print(f"{len(events)} link events over {len(links)} links, best of {rounds} rounds; "
          f"python {sys.version.split()[0]}; envelope {len(bodies[0])} bytes")
    print(f"{'step':<66} {'us/event':>9} {'/ raw':>6}")
    for step, us, _ in rows:
        print(f"{step:<66} {us:9.1f} {us / raw:6.2f}")
    print(f"{'the steps above, summed (no dispatch, task, socket or confirm)':<66} "
          f"{steps:9.1f} {steps / raw:6.2f}")
    print(f"{'raw aio-pika: CPU per message, 256 in flight, confirms':<66} {raw:9.1f} "
          f"{1:6.2f}")
    print(f"serialization with / without the round trip: {with_trip / walk_only:.2f}")
    print(f"bench.py's burst ratio (the NApps' own / raw, issue 21 target 0.7) is at least "
          f"{steps / raw:.2f} here")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--events", type=int, default=20_000, help="events (20000)")
    parser.add_argument("--links", type=int, default=100, help="links the events cycle over")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each step (5)")
    parser.add_argument("--url", default=bench.os.environ["KYTOS_MQ_URL"],
                        help="the broker of the raw baseline (KYTOS_MQ_URL)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
