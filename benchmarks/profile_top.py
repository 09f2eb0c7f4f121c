"""Summarise a py-spy ``--format raw`` profile: the hottest functions, and time per component.

    .venv/bin/py-spy record -r 1000 -f raw -o /tmp/production.raw -- \\
        .venv/bin/python benchmarks/bench.py --production-only
    .venv/bin/python benchmarks/profile_top.py /tmp/production.raw

Only samples taken on the event loop (a stack through ``BaseEventLoop._run_once``) outside the
benchmark's own set-up (``build_messages``, ``make_topology``, ``link_events``) are counted, so
the percentages are shares of the controller's busy time. "self" is time in the function's
own code; "total" includes what it calls.
"""

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(?::\d+)?\)$")
SETUP = ("build_messages", "make_topology", "start_stack", "cleanup")
COMPONENTS = (  # first match wins
    ("listen_events/", "listen_events"),
    ("mq_producer/", "mq_producer"),
    ("aio_pika/", "aio-pika"),
    ("aiormq/", "aiormq"),
    ("pamqp/", "pamqp"),
    ("kytos/core/", "kytos core double (as_dict)"),
    ("tests/support/", "stand-in controller (dispatch)"),
    ("asyncio/", "asyncio"),
    ("bench.py", "benchmark driver"),
)


def frame_name(frame: str) -> tuple[str, str]:
    """'Serializer.value (listen_events/serialize.py:59)' -> (function, file)."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    return match["function"], match["file"]


def component(file: str) -> str:
    for marker, name in COMPONENTS:
        if marker in file:
            return name
    return "other (stdlib, uuid, json, re, ...)"


def samples(lines: Iterable[str]) -> Iterable[tuple[list[tuple[str, str]], int]]:
    for line in lines:
        stack_text, _, count = line.rstrip("\n").rpartition(" ")
        if not stack_text:
            continue
        frames = [frame_name(frame) for frame in stack_text.split(";")]
        names = {function for function, _ in frames}
        if "BaseEventLoop._run_once" not in names or names & set(SETUP):
            continue
        yield frames, int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path, help="py-spy --format raw output")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    own: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    by_component: Counter[str] = Counter()
    busy = 0
    with args.raw.open() as lines:
        for frames, count in samples(lines):
            busy += count
            own[frames[-1]] += count
            by_component[component(frames[-1][1])] += count
            for frame in set(frames):
                total[frame] += count
    if not busy:
        raise SystemExit("no event-loop samples")
    print(f"{busy} event-loop samples (busy time)\n\nself time by component:")
    for name, count in by_component.most_common():
        print(f"  {100 * count / busy:5.1f}%  {name}")
    print(f"\ntop {args.top} functions by self time:")
    for (function, file), count in own.most_common(args.top):
        print(f"  {100 * count / busy:5.1f}%  {function}  ({file})")
    print(f"\ntop {args.top} functions by total time (self + callees):")
    loop_frames = {"<module>", "main", "run", "Runner.run", "BaseEventLoop.run_until_complete",
                   "BaseEventLoop.run_forever", "BaseEventLoop._run_once", "Handle._run"}
    shown = [(frame, count) for frame, count in total.most_common()
             if frame[0] not in loop_frames][:args.top]
    for (function, file), count in shown:
        print(f"  {100 * count / busy:5.1f}%  {function}  ({file})")


if __name__ == "__main__":
    main()
