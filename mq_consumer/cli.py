"""``mq-consumer``: print the Kytos events a queue receives, as readable lines or JSON lines."""

import argparse
import asyncio
import contextlib
import logging
import os
import sys

from listen_events.envelope import Envelope
from mq_producer import settings as producer_settings
from mq_producer.checks import SettingsError
from mq_producer.config import (
    LINK_QUEUE_ARGUMENTS,
    checked_scope,
    napp_queues_from,
    queue_type_of,
    verbose_queue_from,
)
from mq_producer.routing import scoped
from mq_producer.transports.amqp.broker import broker_from_env

from .consumer import Binding, ConsumerConnectionError, ConsumerOptions, EventConsumer

DEFAULT_EXCHANGES = ("admin_events", "operational_events", "other_events")


def describe(envelope: Envelope) -> str:
    """One readable line per event."""
    producer = envelope.producer
    head = (f"{envelope.event_timestamp.isoformat(timespec='milliseconds')} "
            f"{envelope.msg_type:<8} {envelope.event_class:<14} {envelope.event_name}")
    where = f"[{producer.domain or producer.controller} #{producer.sequence}]"
    link = envelope.link
    if link is None:
        return f"{head} key={envelope.key or '-'} {where}"
    ends = " <-> ".join(f"{end.dpid}:{end.port}({end.name})"
                        for end in (link.endpoint_a, link.endpoint_b))
    return (f"{head} link={link.id[:12]} {link.status or '?'} reason={link.reason or '-'} "
            f"{ends} {where}")


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mq-consumer", description=__doc__,
        epilog="Broker: KYTOS_MQ_URL, or KYTOS_MQ_HOST/_PORT/_USERNAME/_PASSWORD/_VHOST/_TLS; "
               "TLS files: KYTOS_MQ_CA_FILE, KYTOS_MQ_CERT_FILE, KYTOS_MQ_KEY_FILE.")
    parser.add_argument("--bind", action="append", metavar="EXCHANGE:PATTERN",
                        help="bind the queue (repeatable); default: every default exchange, '#' "
                             "('DOMAIN.#' with --domain)")
    parser.add_argument("--queue", default="",
                        help="durable queue to consume (kept while you are away); "
                             "default: a private queue")
    parser.add_argument("--link", action="append", default=[],
                        help="print only events about this link id (repeatable)")
    parser.add_argument("--link-queue", metavar="LINK_ID",
                        help="consume this interdomain link's (or SDX NNI port's, e.g. "
                             "urn:sdx:port:zaoxi.ac.za:s1:50) own status queue, as SDX-LC "
                             "would, instead of binding a queue of ours")
    parser.add_argument("--napp", metavar="NAPP",
                        help="consume this NApp's own queue (e.g. kytos/mef_eline: its events "
                             "only), one of mq_producer's NAPP_QUEUES, instead of binding a "
                             "queue of ours")
    parser.add_argument("--verbose", action="store_true",
                        help="consume mq_producer's verbose queue (VERBOSE_QUEUE: every "
                             "event), instead of binding a queue of ours")
    parser.add_argument("--domain", default="", metavar="DOMAIN",
                        help="one domain's messages, of producers with DOMAIN_SCOPE set: the "
                             "default binding is 'DOMAIN.#' instead of '#' (a --bind pattern "
                             "is taken as given), and --napp / --verbose / --link-queue read "
                             "that domain's queue ('DOMAIN.' + its name)")
    link_status = producer_settings.LINK_STATUS
    parser.add_argument("--link-queue-prefix", default=link_status["queue_prefix"],
                        help="prefix of the link status queues (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--count", type=_count, default=0,
                        help="exit after printing this many events (0: run until Ctrl-C); "
                             "the events after them stay in the queue")
    return parser.parse_args(argv)


def _producer_queue(args: argparse.Namespace) -> ConsumerOptions:
    """--napp / --verbose: a queue mq_producer declares, by name, declared here with the same
    arguments (from mq_producer's settings) and bound to nothing more."""
    if args.napp:
        napp_queues = napp_queues_from(getattr(producer_settings, "NAPP_QUEUES", None))
        if not napp_queues.enabled:
            raise ValueError("--napp: mq_producer's NAPP_QUEUES is disabled: no NApp has a "
                             "queue of its own (--verbose reads every event)")
        if args.napp not in napp_queues.napps:
            raise ValueError(f"--napp: {args.napp!r} has no queue of its own (not in "
                             f"mq_producer's NAPP_QUEUES napps: "
                             f"{', '.join(napp_queues.napps)}): its events are in the "
                             "verbose queue (--verbose)")
        name, arguments = napp_queues.queue(args.napp), napp_queues.arguments
    else:
        verbose = verbose_queue_from(getattr(producer_settings, "VERBOSE_QUEUE", None))
        if not verbose.enabled:
            raise ValueError("--verbose: mq_producer's VERBOSE_QUEUE is disabled")
        name, arguments = verbose.queue, verbose.arguments
    # No dead-letter exchange: the producer declares these queues without one.
    return ConsumerOptions(bindings=[], queue=scoped(args.domain, name), dead_letter="",
                           queue_arguments=dict(arguments),
                           queue_type=queue_type_of(producer_settings),
                           new_queue_note="mq_producer declares it when it starts (with "
                           "NAPP_QUEUES / VERBOSE_QUEUE on, and the same --domain as its "
                           "DOMAIN_SCOPE): it has not yet")


def consumer_options(args: argparse.Namespace) -> ConsumerOptions:
    checked_scope("--domain", args.domain)
    chosen = [option for option, given in (("--napp", args.napp), ("--verbose", args.verbose),
                                           ("--link-queue", args.link_queue)) if given]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)}: give only one of --napp, --verbose and "
                         "--link-queue")
    if chosen and (args.bind or args.queue):
        raise ValueError(f"{chosen[0]} goes without --bind and --queue")
    if args.napp or args.verbose:
        return _producer_queue(args)
    if args.link_queue:
        dead_letter = producer_settings.DEAD_LETTER
        # Not bound: mq_producer publishes a link's status straight to its queue.
        return ConsumerOptions(
            bindings=[],
            queue=scoped(args.domain, f"{args.link_queue_prefix}{args.link_queue}"),
            dead_letter=dead_letter,
            queue_arguments={**LINK_QUEUE_ARGUMENTS, "x-dead-letter-exchange": dead_letter},
            queue_type=queue_type_of(producer_settings),
            new_queue_note="mq_producer declares a link's status queue when the link's first "
            "status comes, or at start for LINK_STATUS link_ids: check the link id (a Kytos "
            "link's id, or urn:sdx:port:... for an NNI port); if it is right, its status "
            "comes with its next change")
    bindings = args.bind or [f"{exchange}:{scoped(args.domain, '#')}"
                             for exchange in DEFAULT_EXCHANGES]
    return ConsumerOptions(bindings=[Binding.parse(text) for text in bindings],
                           queue=args.queue, dead_letter=producer_settings.DEAD_LETTER,
                           queue_type=queue_type_of(producer_settings))


async def consume(args: argparse.Namespace) -> int:
    try:
        broker = broker_from_env(os.environ)
        options = consumer_options(args)
    except (SettingsError, ValueError) as exc:
        print(f"mq-consumer: {exc}", file=sys.stderr)
        return 2
    done = asyncio.Event()
    printed = 0

    async def show(envelope: Envelope) -> None:
        nonlocal printed
        if args.link and (envelope.link is None or envelope.link.id not in args.link):
            return
        print(envelope.model_dump_json() if args.json else describe(envelope), flush=True)
        printed += 1
        if args.count and printed >= args.count:
            consumer.stop_handling()  # what follows stays in the queue
            done.set()

    consumer = EventConsumer(broker, options, show)
    try:
        await consumer.start()
    except ConsumerConnectionError as exc:
        print(f"mq-consumer: {exc}", file=sys.stderr)
        return 1
    try:
        await done.wait()
    finally:
        await consumer.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(consume(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
