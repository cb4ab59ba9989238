"""Partition lanes: one task per assigned partition runs its batch handler, chunk after chunk.

A lane keeps a partition's chunks in offset order and runs one handler call at a
time, so a partition's effects happen in order, while different partitions'
handlers overlap (one parses while another waits on Redis). When a handler
returns, the lane acknowledges the chunk's offsets in one step — but only if
the lane still owns the partition and the consumer-group generation is the one
the chunk was fetched in.

On revocation a lane stops taking chunks, drops the ones not yet started, and
is given a bounded time to finish the one in flight (whose acknowledgement then
still counts, before Faust commits). After that it is closed: a handler that
finishes later acknowledges nothing, and the records go to the new owner, whose
applied-offset check in the state store skips what was already applied.

>>> import asyncio
>>> from streams.batching.base import Chunk, PlainRecord, TP
>>> acked = []
>>> async def handle(tp, records):
...     await asyncio.sleep(0)
>>> async def demo():
...     lanes = Lanes(ack=lambda tp, first, last: acked.append((tp.partition, first, last)),
...                   generation=lambda: 1)
...     tp = TP("usage-events", 0)
...     lanes.submit(Chunk(tp, [PlainRecord(0, b"a", b"1"), PlainRecord(1, b"b", b"2")], 1, 4), handle)
...     lanes.submit(Chunk(tp, [PlainRecord(2, b"a", b"3")], 1, 2), handle)
...     await asyncio.sleep(0.01)
...     lanes.submit(Chunk(tp, [PlainRecord(3, b"c", b"4")], 1, 2), handle)
...     await lanes.revoke([tp], timeout=1.0)  # drops the chunk not yet started
>>> asyncio.run(demo())
>>> acked
[(0, 0, 1), (0, 2, 2)]
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from time import perf_counter
from typing import Awaitable, Callable, Iterable

from streams.batching.base import TP, BatchHandler, Chunk
from streams.batching.budget import InflightBudget
from streams.batching.errors import HandlerFailure
from streams.batching.metrics import BatchMetrics

__all__ = ["LaneState", "PartitionLane", "Lanes"]

log = logging.getLogger(__name__)


class LaneState(enum.Enum):
    OPEN = "open"          # takes chunks, acknowledges them
    DRAINING = "draining"  # revoked: finishes the chunk in flight, which still acknowledges
    CLOSED = "closed"      # acknowledges nothing any more
    FAILED = "failed"      # a handler raised: nothing at or after that chunk is acknowledged


Ack = Callable[[TP, int, int], object]
OnFailure = Callable[[HandlerFailure], Awaitable[None]]


class PartitionLane:
    """The ordered queue and worker task of one partition."""

    def __init__(self, tp: TP, handler: BatchHandler, lanes: "Lanes", name: str | None = None):
        self.tp = tp
        self.handler = handler
        self.name = name or getattr(handler, "__qualname__", repr(handler))
        self.state = LaneState.OPEN
        self._lanes = lanes
        self._queue: deque[Chunk] = deque()
        self._wake = asyncio.Event()
        self.in_flight: Chunk | None = None
        self.task = asyncio.ensure_future(self._run())

    def submit(self, chunk: Chunk) -> bool:
        if self.state is not LaneState.OPEN:
            return False
        self._queue.append(chunk)
        self._wake.set()
        return True

    def stop_intake(self) -> list[Chunk]:
        """Stop taking chunks; return the queued ones not yet started (their bytes are released)."""
        if self.state is LaneState.OPEN:
            self.state = LaneState.DRAINING
        dropped = list(self._queue)
        self._queue.clear()
        for chunk in dropped:
            self._lanes.release(chunk)
        self._wake.set()
        return dropped

    def _take(self) -> Chunk:
        """The next chunk, merged with the ones queued behind it (same generation, bounded).

        Each handler call pays a fixed cost (state round trips, an atomic apply, an
        acknowledged publish). When records arrive a few at a time, fetches are small and
        queue up behind the call in flight faster than one call per fetch can drain
        them; taking the whole queue at once lets a lane that fell behind catch up in
        one call instead of falling further behind.
        """
        chunk = self._queue.popleft()
        limit = self._lanes.coalesce_records
        if not self._queue or len(chunk) >= limit:
            return chunk
        records = list(chunk.records)
        nbytes = chunk.nbytes
        queue = self._queue
        while queue and queue[0].generation == chunk.generation and len(records) + len(queue[0]) <= limit:
            nxt = queue.popleft()
            records += nxt.records
            nbytes += nxt.nbytes
        if len(records) == len(chunk):
            return chunk
        return Chunk(chunk.tp, records, chunk.generation, nbytes, chunk.fetched_at)

    async def _run(self) -> None:
        lanes = self._lanes
        topic = self.tp.topic
        metrics = lanes.metrics
        while True:
            while not self._queue:
                if self.state is not LaneState.OPEN:
                    return
                self._wake.clear()
                await self._wake.wait()
            chunk = self._take()
            self.in_flight = chunk
            started = perf_counter()
            try:
                await self.handler(self.tp, chunk.records)
            except asyncio.CancelledError:
                lanes.release(chunk)
                self.in_flight = None
                raise
            except Exception as exc:
                self.state = LaneState.FAILED
                self.in_flight = None
                lanes.release(chunk)
                self.stop_intake()
                if metrics is not None:
                    metrics.failures.labels(topic=topic).inc()
                failure = HandlerFailure(self.name, chunk, exc)
                lanes.failures.append(failure)
                await lanes.on_failure(failure)
                return
            self.in_flight = None
            if metrics is not None:
                metrics.handler_seconds.labels(topic=topic).observe(perf_counter() - started)
            if self.state in (LaneState.OPEN, LaneState.DRAINING) and chunk.generation == lanes.generation():
                lanes.ack(self.tp, chunk.first_offset, chunk.last_offset)
                if metrics is not None:
                    metrics.records.labels(topic=topic).inc(len(chunk))
            elif metrics is not None:
                # applied but not acknowledged: the new owner gets these again and
                # the state store's applied offset makes that harmless
                metrics.dropped.labels(topic=topic, reason="late_ack").inc(len(chunk))
            lanes.release(chunk)


async def _log_failure(failure: HandlerFailure) -> None:
    log.error("%s", failure, exc_info=failure.cause)


class Lanes:
    """All lanes of one worker: submit chunks, revoke partitions, stop."""

    def __init__(
        self,
        *,
        ack: Ack,
        generation: Callable[[], int],
        budget: InflightBudget | None = None,
        metrics: BatchMetrics | None = None,
        on_failure: OnFailure = _log_failure,
        coalesce_records: int = 0,
    ):
        self.ack = ack
        #: Chunks queued on a lane are handed over together up to this many records (0: never).
        self.coalesce_records = coalesce_records
        self.generation = generation
        self.budget = budget
        self.metrics = metrics
        self.on_failure = on_failure
        self._lanes: dict[TP, PartitionLane] = {}
        #: Partitions whose revocation is waiting for the chunk in flight: a chunk submitted
        #: now must not start a fresh lane, which would apply it after the dropped ones.
        self._revoking: set[TP] = set()
        #: Lanes taken out by a revocation or stop whose task has not ended yet: a second revocation of
        #: the same partition (a rebalance while the worker stops) must wait for them too, or the
        #: partition is handed over while its chunk is still being applied.
        self._closing: dict[TP, PartitionLane] = {}
        self.failures: list[HandlerFailure] = []

    def release(self, chunk: Chunk) -> None:
        if self.budget is not None:
            self.budget.release(chunk.nbytes)
            if self.metrics is not None:
                self.metrics.inflight_bytes.set(self.budget.in_flight)

    def submit(self, chunk: Chunk, handler: BatchHandler, name: str | None = None) -> bool:
        """Queue ``chunk`` on its partition's lane; False (and bytes released) if the lane takes no more."""
        lane = self._lanes.get(chunk.tp)
        if lane is None:
            if chunk.tp in self._revoking:
                self.release(chunk)
                return False
            lane = self._lanes[chunk.tp] = PartitionLane(chunk.tp, handler, self, name)
        if lane.submit(chunk):
            return True
        self.release(chunk)
        return False

    def lane(self, tp: TP) -> PartitionLane | None:
        return self._lanes.get(tp)

    @property
    def partitions(self) -> set[TP]:
        return set(self._lanes)

    def busy(self) -> bool:
        return any(lane.in_flight is not None or lane._queue for lane in self._lanes.values())

    async def revoke(self, tps: Iterable[TP], timeout: float) -> list[TP]:
        """Close the lanes of ``tps``: drop queued chunks, wait up to ``timeout`` s for the ones in flight.

        Returns the partitions whose handler did not finish in time (it is cancelled).
        """
        tps = list(tps)
        earlier = [lane for tp in tps if (lane := self._closing.get(tp)) is not None]
        closing = [lane for tp in tps if (lane := self._lanes.pop(tp, None)) is not None]
        for lane in closing:
            self._closing[lane.tp] = lane
            lane.task.add_done_callback(lambda _task, lane=lane: self._forget(lane))
        self._revoking.update(tps)
        try:
            late = await self._close(closing, timeout)
            pending = [lane.task for lane in earlier if not lane.task.done()]
            if pending:  # closed by an earlier revocation or stop that is still waiting for them
                await asyncio.wait(pending, timeout=timeout)
                late += [lane.tp for lane in earlier if not lane.task.done() and lane.tp not in late]
            return late
        finally:
            self._revoking.difference_update(tps)

    def _forget(self, lane: PartitionLane) -> None:
        if self._closing.get(lane.tp) is lane:
            del self._closing[lane.tp]

    async def _close(self, closing: list[PartitionLane], timeout: float) -> list[TP]:
        for lane in closing:
            dropped = lane.stop_intake()
            if dropped and self.metrics is not None:
                self.metrics.dropped.labels(topic=lane.tp.topic, reason="revoked").inc(sum(map(len, dropped)))
        pending = [lane.task for lane in closing if not lane.task.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        late: list[TP] = []
        for lane in closing:
            if lane.state is not LaneState.FAILED:
                lane.state = LaneState.CLOSED
            if not lane.task.done():
                late.append(lane.tp)
                lane.task.cancel()
        if late:
            log.warning("batch handlers still running after %.1fs on revoked partitions %s; cancelled, "
                        "not acknowledged (the new owner re-reads them)", timeout, sorted(late))
        return late

    async def stop(self, timeout: float) -> list[TP]:
        return await self.revoke(list(self._lanes), timeout)
