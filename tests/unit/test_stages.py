"""benchmarks/stages.py's idle measurement: each item timed alone, by the thread's CPU clock,
after the thread was idle; the idle time itself never counted. A fake clock: no timing here."""

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import stages  # noqa: E402

STEP_CPU, IDLE = 5e-6, 0.002


class FakeClock:
    """The step costs STEP_CPU of every CPU clock; being idle advances the wall clocks
    (perf_counter, and process_time as a wrong clock would read it) but no CPU clock."""

    def __init__(self) -> None:
        self.thread = self.wall = 0.0
        self.log: list[str] = []

    def sleep(self, seconds: float) -> None:
        self.log.append(f"idle {seconds}")
        self.wall += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def step(self, item: int) -> None:
        self.log.append(f"step {item}")
        self.thread += STEP_CPU
        self.wall += STEP_CPU

    async def astep(self, item: int) -> None:
        self.step(item)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    monkeypatch.setattr(stages.time, "thread_time", lambda: fake.thread)
    monkeypatch.setattr(stages.time, "process_time", lambda: fake.wall)
    monkeypatch.setattr(stages.time, "perf_counter", lambda: fake.wall)
    monkeypatch.setattr(stages.time, "sleep", fake.sleep)
    monkeypatch.setattr(stages.asyncio, "sleep", fake.asleep)
    yield fake


def test_cpu_us_idle_counts_each_step_after_an_idle_time_and_not_the_idle_time(
        clock: FakeClock) -> None:
    us = stages.cpu_us(clock.step, [1, 2, 3], rounds=2, idle=IDLE)
    assert us == pytest.approx(STEP_CPU * 1e6)
    assert clock.log == [f"idle {IDLE}", "step 1", f"idle {IDLE}", "step 2",
                         f"idle {IDLE}", "step 3"] * 2


def test_async_cpu_us_idle_counts_each_step_after_an_idle_time_and_not_the_idle_time(
        clock: FakeClock) -> None:
    us = asyncio.run(stages.async_cpu_us(clock.astep, [1, 2], rounds=3, idle=IDLE))
    assert us == pytest.approx(STEP_CPU * 1e6)
    assert clock.log == [f"idle {IDLE}", "step 1", f"idle {IDLE}", "step 2"] * 3


def test_without_idle_the_items_are_timed_back_to_back(clock: FakeClock) -> None:
    assert stages.cpu_us(clock.step, [1, 2], rounds=2) == pytest.approx(STEP_CPU * 1e6)
    us = asyncio.run(stages.async_cpu_us(clock.astep, [1, 2], rounds=2))
    assert us == pytest.approx(STEP_CPU * 1e6)
    assert clock.log == ["step 1", "step 2"] * 4


def test_the_report_gives_the_idle_columns_only_when_measured(
        capsys: pytest.CaptureFixture[str]) -> None:
    rows = [("a step", 10.0, 40.0, True)]
    stages.report(rows, raw=100.0, raw_idle=None)
    burst_only = capsys.readouterr().out.splitlines()
    assert "idle" not in burst_only[0] and burst_only[1].split()[-2:] == ["10.0", "0.10"]
    stages.report(rows, raw=100.0, raw_idle=200.0)
    both = capsys.readouterr().out.splitlines()
    assert both[0].split()[-6:] == ["idle", "/", "raw", "idle", "/", "alone"]
    assert both[1].split()[-5:] == ["10.0", "0.10", "40.0", "0.20", "4.0"]
    assert both[2].split()[-5:] == ["100.0", "1.00", "200.0", "1.00", "2.0"]
