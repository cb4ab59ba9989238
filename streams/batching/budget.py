"""A worker's allowance of fetched-but-unprocessed bytes: the backpressure of the batch path.

The drain loop takes bytes from the budget before it hands a chunk to a
partition's lane and the lane gives them back once the handler is done. When
the handlers fall behind (Redis slows down) the drain loop waits here instead
of fetching more, so memory stays flat; Kafka keeps the backlog.

A chunk larger than the whole budget is let through when nothing else is in
flight, so one oversized fetch cannot deadlock the worker.

>>> import asyncio
>>> async def demo():
...     budget = InflightBudget(100)
...     await budget.acquire(80)
...     waiter = asyncio.ensure_future(budget.acquire(50))
...     await asyncio.sleep(0)
...     blocked = not waiter.done()
...     budget.release(80)
...     await waiter
...     return blocked, budget.in_flight
>>> asyncio.run(demo())
(True, 50)
"""

from __future__ import annotations

import asyncio

__all__ = ["InflightBudget"]


class InflightBudget:
    """Bytes in flight between fetch and acknowledgement, at most ``limit`` (but one chunk always fits)."""

    def __init__(self, limit: int):
        if limit <= 0:
            raise ValueError(f"in-flight budget must be positive, got {limit}")
        self.limit = limit
        self.in_flight = 0
        self.peak = 0
        self._freed: asyncio.Event | None = None

    def fits(self, nbytes: int) -> bool:
        return self.in_flight == 0 or self.in_flight + nbytes <= self.limit

    async def acquire(self, nbytes: int) -> None:
        """Take ``nbytes``, waiting while that would exceed the limit."""
        while not self.fits(nbytes):
            if self._freed is None:
                self._freed = asyncio.Event()
            await self._freed.wait()
        self.in_flight += nbytes
        if self.in_flight > self.peak:
            self.peak = self.in_flight

    def release(self, nbytes: int) -> None:
        self.in_flight -= nbytes
        if self.in_flight < 0:
            # a double release would silently lift the bound; that is a bug here
            raise RuntimeError(f"in-flight budget released below zero ({self.in_flight})")
        if self._freed is not None:
            freed, self._freed = self._freed, None
            freed.set()
