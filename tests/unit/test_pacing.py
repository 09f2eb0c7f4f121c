"""Pacer: yields to the event loop only once the work budget is spent."""

import asyncio
import time

import pytest

from listen_events.pacing import WORK_SLICE, Pacer
from tests.support.waiting import loop_turns


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _yielded_during(pacer: Pacer) -> bool:
    """Whether ``pacer.pause()`` let a callback scheduled just before it run."""
    ran = asyncio.Event()
    asyncio.get_running_loop().call_soon(ran.set)
    await pacer.pause()
    return ran.is_set()


def test_the_budget_is_two_milliseconds():
    assert WORK_SLICE == 0.002
    assert Pacer().budget == WORK_SLICE


async def test_within_the_budget_pause_does_not_yield():
    pacer = Pacer(60.0)
    assert not pacer.due
    assert not await _yielded_during(pacer)
    assert pacer.pauses == 0


async def test_over_the_budget_pause_yields_once_and_starts_a_new_slice():
    pacer = Pacer(0.001)
    _busy(0.002)
    assert pacer.due
    assert await _yielded_during(pacer)
    assert pacer.pauses == 1
    assert not pacer.due  # a new slice began at the turn
    assert not await _yielded_during(pacer)
    assert pacer.pauses == 1


async def test_a_shorter_budget_for_one_pause_yields_before_the_pacers_own():
    pacer = Pacer(60.0)
    _busy(0.002)
    ran = asyncio.Event()
    asyncio.get_running_loop().call_soon(ran.set)
    await pacer.pause(0.001)
    assert ran.is_set() and pacer.pauses == 1
    assert not await _yielded_during(pacer)  # its own budget, from that turn on


async def test_restart_counts_a_turn_the_loop_had_elsewhere():
    pacer = Pacer(0.001)
    _busy(0.002)
    assert pacer.due
    await asyncio.sleep(0)  # e.g. the worker waited for events
    pacer.restart()
    assert not pacer.due
    assert not await _yielded_during(pacer)


async def test_long_work_is_cut_into_slices_of_about_the_budget():
    pacer = Pacer(0.002)
    async with loop_turns() as turns:
        start = time.perf_counter()
        while time.perf_counter() - start < 0.05:
            _busy(0.0001)  # one small piece of work
            await pacer.pause()
    # ~50 ms of work in slices of at least 2 ms: the other task ran between them.
    assert 1 <= pacer.pauses <= 26
    assert turns.count >= pacer.pauses


def test_a_negative_budget_is_refused():
    with pytest.raises(ValueError, match="budget"):
        Pacer(-1)
