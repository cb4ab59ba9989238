"""The in-flight budget bounds fetched-but-unprocessed bytes and never deadlocks on one big chunk."""

from __future__ import annotations

import asyncio

import pytest

from streams.batching.budget import InflightBudget


def test_acquire_waits_until_enough_is_released():
    async def scenario():
        budget = InflightBudget(100)
        await budget.acquire(60)
        await budget.acquire(40)
        waiter = asyncio.ensure_future(budget.acquire(30))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        budget.release(20)          # 80 + 30 > 100: still waiting
        await asyncio.sleep(0.01)
        assert not waiter.done()
        budget.release(40)          # 40 + 30 fits
        await asyncio.wait_for(waiter, 1)
        return budget.in_flight, budget.peak

    assert asyncio.run(scenario()) == (70, 100)


def test_a_chunk_larger_than_the_budget_passes_when_nothing_is_in_flight():
    async def scenario():
        budget = InflightBudget(100)
        await asyncio.wait_for(budget.acquire(500), 1)
        blocked = asyncio.ensure_future(budget.acquire(1))
        await asyncio.sleep(0.01)
        assert not blocked.done()
        budget.release(500)
        await asyncio.wait_for(blocked, 1)
        return budget.in_flight

    assert asyncio.run(scenario()) == 1


def test_releasing_more_than_taken_is_a_bug():
    budget = InflightBudget(10)
    with pytest.raises(RuntimeError, match="below zero"):
        budget.release(1)


def test_budget_must_be_positive():
    with pytest.raises(ValueError):
        InflightBudget(0)
