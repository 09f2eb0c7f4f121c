"""Issue 21's own measurement, in a real kytosd: the NApps' CPU per event at a steady pace,
beside raw aio-pika's CPU per message published at the same pace in the same kytosd.

    .venv/bin/python benchmarks/kytosd_paced.py --kytos-python ~/kytos-venv/bin/python
    .venv/bin/python benchmarks/kytosd_paced.py --kytos-python ... --against 6da3ca1
    .venv/bin/python benchmarks/kytosd_paced.py --kytos-python ... \
        --setting listen_events.LINGER_MS=10 --setting mq_producer.CONFIRM_READ_LINGER_MS=0

kytos-ng core is not on PyPI and this repository holds none of it: ``--kytos-python`` is the
Python of an environment where you installed kytos-ng 2025.2.1 and python-openflow 2025.1.0
(from their repositories, as kytos-ng documents) and this repository (``pip install .``: the
NApps' dependencies). No MongoDB is needed (kytosd_launch.py). The broker is KYTOS_MQ_URL
(default amqp://guest:guest@127.0.0.1:5672/).

Each run is a fresh kytosd in a prefix of its own (kytosd_launch.py), with the probe NApp
bench/kytosd_probe (kytosd_probe/main.py: 50 switches, 100 links of core's classes) and, by
mode:

- ``base``: the probe alone, sending link_up / link_down events through core's app buffer
  that nobody listens to: the pacing and core's dispatch;
- ``napps``: the same, with both NApps of this working tree publishing every event (their
  settings' defaults, but this run's exchange and queue names, one bounded queue per
  message, as bench.py's); ``napps@REV`` with those of a commit (``--against REV``), and
  ``napps+NAME=VALUE`` with this tree's and one setting changed (``--setting``);
- ``raw``: the same events, nobody listening, and the probe publishes one message per event
  through aio-pika itself, a task per publish, confirms, ``mandatory``, as bench.py's
  ``paced_raw``.

In every run, after a warm-up, a window per pace (``--rates``, ``--seconds`` each) reads
kytosd's process CPU time from the first event to half a second after the last. A mode less
``base`` is the NApps' own CPU per event (core's handler task for their listener included)
and raw's publishing alone: their ratio is the issue's, ``own / raw``. The modes run in
``--rounds`` rounds, the order reversed every other round; the figures are medians of the
rounds, each round's given too. Every run checks that each event was confirmed (the NApps'
v1/status, raw's confirms; else it stops there), says when an event was sent over 100 ms
late (the host busy), gives the garbage collections of each window (by generation, and
their CPU) and counts kytosd's WARNING and ERROR lines and tracebacks, stop included (the
first five are shown). Exchanges and queues are named bench.<run id>.* and
deleted at the end.
"""

import argparse
import ast
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench

from tests.support.rabbit_node import free_port

HERE, ROOT = Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]
PROBE = "api/bench/kytosd_probe/v1"
STATUS = "api/kytos/mq_producer/v1/status"
WARM_UP = {"rate": 500.0, "seconds": 1.0}
READY_TIMEOUT, STOP_TIMEOUT = 60.0, 30.0
NOTABLE = (" - WARNING ", " - ERROR ", " - CRITICAL ", "Traceback", "Task was destroyed",
           "never awaited")


NAPPS = ("listen_events", "mq_producer")


def parse_setting(text: str) -> tuple[str, str, Any]:
    """``--setting``'s "listen_events.LINGER_MS=10": the NApp, the setting, its value (a
    Python literal)."""
    target, _, value = text.partition("=")
    napp, _, name = target.partition(".")
    if napp not in NAPPS or not name.isidentifier() or not name.isupper():
        raise argparse.ArgumentTypeError(
            f"{text!r}: not NAPP.SETTING=VALUE with NAPP one of {', '.join(NAPPS)}")
    try:
        return napp, name, ast.literal_eval(value)
    except (ValueError, SyntaxError) as error:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the value is not a Python literal ({error})") from None


def napps_tree(tree: Path, names: bench.Names, settings: Mapping[str, Mapping[str, Any]],
               rev: str | None) -> None:
    """listen_events and mq_producer (of the working tree, or of ``rev``) in ``tree``/kytos,
    their settings.py ending with this run's names (bench.producer_settings_for) and
    ``settings`` (by NApp)."""
    kytos = tree / "kytos"
    if rev is None:
        for napp in ("listen_events", "mq_producer"):
            shutil.copytree(ROOT / napp, kytos / napp,
                            ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "listen_events",
                                  "mq_producer"], check=True, capture_output=True).stdout
        kytos.mkdir(parents=True)
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(kytos, filter="data")
    overrides = {"mq_producer": {**bench.producer_settings_for(names),
                                 **settings.get("mq_producer", {})},
                 "listen_events": settings.get("listen_events", {})}
    for napp, values in overrides.items():
        with open(kytos / napp / "settings.py", "a", encoding="utf-8") as settings:
            settings.write("\n# benchmarks/kytosd_paced.py: this run's\n")
            settings.writelines(
                f"{name} = {{**{name}, **{value!r}}}\n" if name in bench.MERGED_SETTINGS
                else f"{name} = {value!r}\n" for name, value in values.items())
    (kytos / "__init__.py").touch()


def make_prefix(prefix: Path, napps: Path | None) -> None:
    """A kytosd prefix: its napps directory with the probe, and ``napps`` (a napps_tree)."""
    napps_dir = prefix / "var" / "lib" / "kytos" / "napps"
    (napps_dir / "bench").mkdir(parents=True)
    (napps_dir / ".installed").mkdir()  # core warns when its installed NApps' directory is missing
    for package in (napps_dir, napps_dir / "bench"):
        (package / "__init__.py").touch()
    probe = napps_dir / "bench" / "kytosd_probe"
    shutil.copytree(HERE / "kytosd_probe", probe, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(HERE / "wakeups.py", probe)  # its LoopCounter, for --count
    if napps is not None:
        shutil.copytree(napps / "kytos", napps_dir / "kytos")


class Kytosd:
    """One kytosd process in ``prefix``, its output in ``log``."""

    def __init__(self, python: str, prefix: Path, log: Path, url: str) -> None:
        api_port = free_port()
        self.api = f"http://127.0.0.1:{api_port}"
        env = {**os.environ, "VIRTUAL_ENV": str(prefix), "KYTOS_MQ_URL": url,
               "KYTOS_MQ_TRANSPORT": "amqp", "KYTOSD_API_PORT": str(api_port),
               "KYTOSD_OF_PORT": str(free_port())}
        self.log = log
        with open(log, "wb") as output:
            self.process = subprocess.Popen([python, str(HERE / "kytosd_launch.py")],
                                            cwd=prefix, env=env, stdout=output,
                                            stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.api, timeout=120)

    def wait_ready(self, with_napps: bool) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kytosd exited with {self.process.returncode}:\n"
                                   + self.tail())
            try:
                if self.client.get(f"{PROBE}/ready").status_code == 200 and (
                        not with_napps or self.client.get(STATUS).json().get("connected")):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"kytosd not ready in {READY_TIMEOUT:.0f} s:\n" + self.tail())

    def tail(self, lines: int = 30) -> str:
        """The last lines kytosd wrote (the log goes with the run's temporary directory)."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def confirmed(self) -> int:
        return int(self.client.get(STATUS).json()["counters"]["confirmed"])

    def queues(self) -> list[str]:
        """The queues mq_producer declared (its v1/status): QUEUES', the dead-letter queue,
        any link's."""
        return list(self.client.get(STATUS).json()["queues"])

    def window(self, rate: float, seconds: float, exchange: str | None, count: bool = False
               ) -> dict[str, Any]:
        body = {"rate": rate, "seconds": seconds, "raw": exchange is not None,
                "exchange": exchange, "count": count}
        answer = self.client.post(f"{PROBE}/window", json=body)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def stop(self) -> list[str]:
        """SIGTERM, as an operator stops kytosd; its notable lines (NOTABLE)."""
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return [f"did not stop within {STOP_TIMEOUT:.0f} s after SIGTERM"]
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if any(mark in line for mark in NOTABLE)]


def run_mode(args: argparse.Namespace, mode: str, prefix: Path, log: Path,
             names: bench.Names, queues: set[str]) -> dict[float, float]:
    """One fresh kytosd: a warm-up, then a window per pace; CPU us per event, by pace. Adds
    the queues the NApps declared to ``queues``, for the run to delete at its end."""
    napps = mode.startswith("napps")
    kytosd = Kytosd(args.kytos_python, prefix, log, args.url)
    cpu_us: dict[float, float] = {}
    problems: list[str] = []  # events lost: the figures would be wrong
    late: list[str] = []  # the pacer behind (the host busy): reported
    counted: list[str] = []  # --count
    collected: dict[float, dict[str, list[float]]] = {}  # the garbage collections, by pace
    try:
        kytosd.wait_ready(napps)
        if napps:
            queues.update(kytosd.queues())
        raw_exchange = names.operational if mode == "raw" else None
        kytosd.window(WARM_UP["rate"], WARM_UP["seconds"], raw_exchange)
        for rate in args.rates:
            before = kytosd.confirmed() if napps else 0
            result = kytosd.window(rate, args.seconds, raw_exchange, args.count)
            cpu_us[rate] = result["cpu_seconds"] / result["events"] * 1e6
            collected[rate] = result["gc"]
            if args.count:
                counted.append(counted_lines(mode, rate, result))
            if result["late_max_ms"] > 100:
                late.append(f"{rate:g}/s: an event sent {result['late_max_ms']:.0f} ms late")
            if mode == "raw" and result["confirmed"] != result["events"]:
                problems.append(f"{rate:g}/s: {result['confirmed']} of {result['events']} "
                                "raw publishes confirmed")
            if napps:
                deadline = time.monotonic() + 20
                while (confirmed := kytosd.confirmed() - before) < result["events"] \
                        and time.monotonic() < deadline:
                    time.sleep(0.1)
                if confirmed != result["events"]:
                    problems.append(f"{rate:g}/s: {confirmed} of {result['events']} events "
                                    "confirmed")
    finally:
        notable = kytosd.stop()
    print(f"  {mode:<16} " + "  ".join(f"{rate:g}/s {us:6.0f} us" for rate, us in
                                       cpu_us.items())
          + f"  ({len(notable)} notable lines from kytosd; garbage collections "
          + ", ".join(f"{gc_line(rate, collected[rate])}" for rate in collected) + ")"
          + "".join(f"; {what}" for what in late), flush=True)
    for line in notable[:5]:  # reported, not fatal: an older tree's stop printed some
        print(f"    kytosd: {line.strip()[:200]}")
    print(*counted, sep="\n", end="\n" if counted else "")
    if problems:
        raise SystemExit(f"{mode}: " + "; ".join(problems[:10]) + "\nkytosd's last lines:\n"
                         + kytosd.tail())
    return cpu_us


def gc_line(rate: float, collected: dict[str, list[float]]) -> str:
    """A window's garbage collections by generation, and their CPU in ms."""
    counts = "/".join(f"{count:.0f}" for count in collected["collections"])
    return f"{rate:g}/s {counts} {sum(collected['cpu_seconds']) * 1000:.0f} ms"


def counted_lines(mode: str, rate: float, result: dict[str, Any], top: int = 10) -> str:
    """--count: where a window's CPU went, per event: the process (every thread), the loop's
    thread, its polls, and the callbacks that took the most of it, by name."""
    events, counted = result["events"], result["counted"]

    def us(seconds: float) -> float:
        return seconds / events * 1e6

    lines = [f"    {mode} at {rate:g}/s, CPU us per event: process {us(result['cpu_seconds']):.0f}"
             f", the loop's thread {us(counted['loop_thread_cpu_seconds']):.0f} (its polls "
             f"{us(counted['polls_cpu_seconds']):.0f}); callbacks per event, their CPU:"]
    callbacks = sorted(counted["callbacks"].items(), key=lambda item: -item[1][1])
    lines += [f"      {number / events:5.2f} {us(cpu):6.1f}  {label}"
              for label, (number, cpu) in callbacks[:top]]
    return "\n".join(lines)


def report(modes: list[str], runs: dict[str, list[dict[float, float]]],
           rates: list[float]) -> dict[str, Any]:
    """Each mode less the base of its round; medians of the rounds, and their ratios to
    raw's publishing; and those of the other NApps modes to this tree's at the defaults."""
    figures: dict[str, Any] = {}
    width = max(16, *map(len, modes))
    for rate in rates:
        base_rounds = [run[rate] for run in runs["base"]]
        added = {mode: [run[rate] - base for run, base in zip(runs[mode], base_rounds,
                                                              strict=True)]
                 for mode in modes if mode != "base"}
        medians = {mode: statistics.median(rounds) for mode, rounds in added.items()}
        raw = medians["raw"]
        print(f"\n{rate:g} events/s, CPU us per event, medians of {len(base_rounds)} rounds "
              "(each round's in brackets), each mode less its round's base:")
        rate_figures: dict[str, Any] = {"base_us": statistics.median(base_rounds),
                                        "base_us_rounds": base_rounds}
        print(f"  base (pacing + core's dispatch) {rate_figures['base_us']:6.0f}   "
              f"[{', '.join(f'{value:.0f}' for value in base_rounds)}]")
        for mode, rounds in sorted(added.items(), key=lambda item: item[0] != "raw"):
            shown = ", ".join(f"{value:.0f}" for value in rounds)
            if mode == "raw":
                print(f"  raw aio-pika's publishing       {raw:6.0f}   [{shown}]")
                rate_figures |= {"raw_publishing_us": raw, "raw_publishing_us_rounds": rounds}
                continue
            print(f"  {mode:<{width}} own {medians[mode]:6.0f}   / raw "
                  f"{medians[mode] / raw:5.2f}   [{shown}]")
            rate_figures[mode] = {"own_us": medians[mode], "own_to_raw": medians[mode] / raw,
                                  "own_us_rounds": rounds}
        for mode in added:
            if mode.startswith("napps") and mode != "napps":
                to_napps = medians[mode] / medians["napps"]
                print(f"  {mode} / napps: {to_napps:.2f}")
                rate_figures[mode]["own_to_napps"] = to_napps
        figures[f"{rate:g}"] = rate_figures
    return figures


def check_kytos_python(python: str) -> str:
    probe = ("import aio_pika, orjson, kytos.core.metadata as m, pyof; "
             "print(m.__version__)")
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"{python} cannot import kytos-ng core and the NApps' dependencies "
            f"({result.stderr.strip().splitlines()[-1:]}): install kytos-ng 2025.2.1 and "
            f"python-openflow 2025.1.0 there, and this repository (pip install {ROOT})")
    return result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kytos-python", required=True,
                        help="the Python of an environment with kytos-ng installed")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every mode (3)")
    parser.add_argument("--seconds", type=float, default=6.0, help="each window (6)")
    parser.add_argument("--rates", type=float, nargs="+", default=[500.0, 1000.0],
                        help="paces, events/s (500 1000)")
    parser.add_argument("--against", metavar="REV",
                        help="also the NApps as they were at this commit (mode napps@REV)")
    parser.add_argument("--setting", type=parse_setting, action="append", default=[],
                        metavar="NAPP.SETTING=VALUE",
                        help="also this tree's NApps with this setting (e.g. "
                             "listen_events.LINGER_MS=10; mode napps+SETTING=VALUE); "
                             "repeatable, a mode each")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--count", action="store_true",
                        help="also count and time every callback on kytosd's loop in each "
                             "window (wakeups.py's LoopCounter, about 1 us a callback more) and "
                             "print where the CPU went")
    args = parser.parse_args()
    args.url = os.environ.get("KYTOS_MQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    version = check_kytos_python(args.kytos_python)
    names = bench.Names(f"bench.{uuid.uuid4().hex[:8]}")
    trees: dict[str, tuple[dict[str, dict[str, Any]], str | None]] = {"napps": ({}, None)}
    for napp, name, value in args.setting:
        trees[f"napps+{name}={value!r}"] = ({napp: {name: value}}, None)
    if args.against:
        trees[f"napps@{args.against}"] = ({}, args.against)
    modes = [*trees, "raw", "base"]
    print(f"kytosd {version}; {bench.platform_line()}; names {names.prefix}.*")
    runs: dict[str, list[dict[float, float]]] = {mode: [] for mode in modes}
    queues = {names.sink, names.dead_letter}  # deleted at the end, with those kytosd reports
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kytosd_paced.") as temp:
        work = Path(temp)
        tree_dirs = {mode: work / f"tree.{index}" for index, mode in enumerate(trees)}
        for mode, (settings, rev) in trees.items():
            napps_tree(tree_dirs[mode], names, settings, rev)
        try:
            for round_ in range(args.rounds):
                # The NApps first in the first round: mq_producer declares the exchange and
                # the queue raw publishes to.
                print(f"-- round {round_ + 1}", flush=True)
                for mode in modes if round_ % 2 == 0 else modes[::-1]:
                    prefix = work / f"{mode}.{round_}"
                    make_prefix(prefix, tree_dirs.get(mode))
                    runs[mode].append(run_mode(args, mode, prefix, work / f"{mode}.log",
                                               names, queues))
        finally:
            deleted = asyncio.run(bench.cleanup(args.url, names, sorted(queues)))
            print(f"deleted {deleted[0]} queue(s), {deleted[1]} exchange(s) of {names.prefix}")
    figures = report(modes, runs, args.rates)
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"kytosd": version, "rounds": runs,
                                         "figures": figures}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
