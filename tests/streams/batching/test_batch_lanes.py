"""Partition lanes: order per partition, overlap across partitions, revocation and failure rules."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from streams.batching.base import TP, Chunk, PlainRecord
from streams.batching.budget import InflightBudget
from streams.batching.lanes import LaneState, Lanes
from streams.batching.metrics import BatchMetrics

T0, T1 = TP("usage-events", 0), TP("usage-events", 1)


def chunk(tp: TP, first: int, n: int, generation: int = 1) -> Chunk:
    records = [PlainRecord(first + i, b"k", b"v") for i in range(n)]
    return Chunk(tp, records, generation, nbytes=2 * n)


class Harness:
    def __init__(self, budget: int = 1_000_000, coalesce: int = 0):
        self.acked: list[tuple[int, int, int]] = []
        self.failures: list = []
        self.generation = 1
        self.budget = InflightBudget(budget)
        self.metrics = BatchMetrics(CollectorRegistry())

        async def on_failure(failure):
            self.failures.append(failure)

        self.lanes = Lanes(ack=lambda tp, a, b: self.acked.append((tp.partition, a, b)),
                           generation=lambda: self.generation, budget=self.budget, metrics=self.metrics,
                           on_failure=on_failure, coalesce_records=coalesce)

    async def submit(self, c: Chunk, handler) -> bool:
        await self.budget.acquire(c.nbytes)
        return self.lanes.submit(c, handler, "handler")

    async def settle(self) -> None:
        while self.lanes.busy():
            await asyncio.sleep(0.005)


def test_chunks_of_one_partition_run_in_order_and_partitions_overlap():
    seen: list[tuple[int, int]] = []
    running = {0: 0, 1: 0}
    overlap = []

    async def handler(tp, records):
        running[tp.partition] += 1
        overlap.append(running[0] and running[1])
        await asyncio.sleep(0.01)
        seen.append((tp.partition, records[0].offset))
        running[tp.partition] -= 1

    async def scenario():
        h = Harness()
        for first in (0, 10, 20):
            await h.submit(chunk(T0, first, 10), handler)
            await h.submit(chunk(T1, first, 10), handler)
        await h.settle()
        await h.lanes.stop(timeout=5)
        return h

    h = asyncio.run(scenario())
    assert [o for p, o in seen if p == 0] == [0, 10, 20]
    assert [o for p, o in seen if p == 1] == [0, 10, 20]
    assert any(overlap), "different partitions' handlers should run concurrently"
    assert sorted(h.acked) == [(0, 0, 9), (0, 10, 19), (0, 20, 29), (1, 0, 9), (1, 10, 19), (1, 20, 29)]
    assert h.budget.in_flight == 0


def test_revoke_waits_for_the_chunk_in_flight_and_drops_the_queued_ones():
    release = asyncio.Event

    async def scenario():
        h = Harness()
        gate = release()
        started = release()

        async def slow(tp, records):
            started.set()
            await gate.wait()

        await h.submit(chunk(T0, 0, 5), slow)
        await h.submit(chunk(T0, 5, 5), slow)
        await started.wait()
        revoking = asyncio.ensure_future(h.lanes.revoke([T0], timeout=5))
        await asyncio.sleep(0.01)
        assert not revoking.done(), "revocation must wait for the handler in flight"
        gate.set()
        late = await revoking
        return h, late

    h, late = asyncio.run(scenario())
    assert late == []
    assert h.acked == [(0, 0, 4)], "the in-flight chunk acknowledges; the queued one is dropped"
    assert h.budget.in_flight == 0
    assert h.metrics.dropped.labels(topic="usage-events", reason="revoked")._value.get() == 5


def test_a_chunk_submitted_while_its_partition_is_revoked_is_refused_not_run_after_a_hole():
    """The lane is gone while revocation waits for the chunk in flight; a later chunk must not
    start a fresh lane, or it would be applied after the dropped ones (a hole in the state)."""
    ran: list[int] = []

    async def scenario():
        h = Harness()
        gate, started = asyncio.Event(), asyncio.Event()

        async def slow(tp, records):
            started.set()
            ran.append(records[0].offset)
            await gate.wait()

        await h.submit(chunk(T0, 0, 5), slow)
        await h.submit(chunk(T0, 5, 5), slow)       # queued: dropped by the revocation
        await started.wait()
        revoking = asyncio.ensure_future(h.lanes.revoke([T0], timeout=5))
        await asyncio.sleep(0.01)
        refused = not await h.submit(chunk(T0, 10, 5), slow)
        gate.set()
        await revoking
        await h.settle()
        after = await h.submit(chunk(T0, 10, 5), slow)   # assigned again: a new lane takes it
        await h.settle()
        await h.lanes.stop(timeout=5)
        return h, refused, after

    h, refused, after = asyncio.run(scenario())
    assert refused, "a chunk of a partition under revocation was accepted"
    assert ran == [0, 10], "only the chunk in flight and, after the revocation, the re-read chunk ran"
    assert after
    assert h.budget.in_flight == 0


def test_a_revocation_while_a_stop_drains_waits_for_the_chunk_the_stop_waits_for():
    """A worker that is stopping still takes part in a rebalance: its revocation must not hand the
    partition over while the chunk the stop is waiting for is still being applied."""
    async def scenario():
        h = Harness()
        gate, started = asyncio.Event(), asyncio.Event()

        async def slow(tp, records):
            started.set()
            await gate.wait()

        await h.submit(chunk(T0, 0, 5), slow)
        await started.wait()
        stopping = asyncio.ensure_future(h.lanes.stop(timeout=5))
        await asyncio.sleep(0.01)
        revoking = asyncio.ensure_future(h.lanes.revoke([T0], timeout=5))
        await asyncio.sleep(0.01)
        returned_early = revoking.done()
        gate.set()
        await asyncio.gather(stopping, revoking)
        return returned_early, revoking.result()

    returned_early, late = asyncio.run(scenario())
    assert not returned_early, "the revocation returned while the chunk was still in flight"
    assert late == []


def test_revoke_timeout_cancels_and_acknowledges_nothing():
    async def scenario():
        h = Harness()

        async def stuck(tp, records):
            await asyncio.sleep(60)

        await h.submit(chunk(T0, 0, 5), stuck)
        await asyncio.sleep(0.01)
        late = await h.lanes.revoke([T0], timeout=0.05)
        await asyncio.sleep(0.01)
        return h, late

    h, late = asyncio.run(scenario())
    assert late == [T0]
    assert h.acked == []
    assert h.budget.in_flight == 0


def test_a_handler_that_finishes_after_the_lane_closed_does_not_acknowledge():
    async def scenario():
        h = Harness()
        gate = asyncio.Event()

        async def handler(tp, records):
            await gate.wait()

        await h.submit(chunk(T0, 0, 5), handler)
        await asyncio.sleep(0.01)
        lane = h.lanes.lane(T0)
        lane.state = LaneState.CLOSED  # what revoke() leaves behind after its wait
        gate.set()
        await asyncio.wait_for(lane.task, 1)
        return h

    h = asyncio.run(scenario())
    assert h.acked == []
    assert h.metrics.dropped.labels(topic="usage-events", reason="late_ack")._value.get() == 5


def test_a_chunk_from_an_older_generation_is_not_acknowledged():
    async def scenario():
        h = Harness()
        gate = asyncio.Event()

        async def handler(tp, records):
            await gate.wait()

        await h.submit(chunk(T0, 0, 5, generation=1), handler)
        await asyncio.sleep(0.01)
        h.generation = 2  # a rebalance happened while the handler ran
        gate.set()
        await h.lanes.stop(timeout=1)
        return h

    assert asyncio.run(scenario()).acked == []


def test_a_failing_handler_stops_its_partition_and_acknowledges_nothing_from_there_on():
    calls: list[int] = []

    async def handler(tp, records):
        calls.append(records[0].offset)
        if records[0].offset == 10:
            raise ValueError("bad record")
        await asyncio.sleep(0)

    async def scenario():
        h = Harness()
        await h.submit(chunk(T0, 0, 10), handler)
        await asyncio.sleep(0.01)
        await h.submit(chunk(T0, 10, 10), handler)
        await h.submit(chunk(T0, 20, 10), handler)
        await asyncio.sleep(0.05)
        accepted = await h.submit(chunk(T0, 30, 10), handler)
        return h, accepted

    h, accepted = asyncio.run(scenario())
    assert calls == [0, 10]
    assert h.acked == [(0, 0, 9)]
    assert not accepted
    assert h.lanes.lane(T0).state is LaneState.FAILED
    assert len(h.failures) == 1
    failure = h.failures[0]
    assert (failure.tp, failure.first_offset, failure.last_offset) == (T0, 10, 19)
    assert "usage-events[0] offsets 10..19" in str(failure) and "ValueError: bad record" in str(failure)
    assert h.budget.in_flight == 0


def _gated_calls():
    """A handler whose first call waits for a gate; every call's (first, last, count) is recorded."""
    calls: list[tuple[int, int, int]] = []
    gate = asyncio.Event()

    async def handler(tp, records):
        if not calls:
            calls.append((records[0].offset, records[-1].offset, len(records)))
            await gate.wait()
            return
        calls.append((records[0].offset, records[-1].offset, len(records)))

    return calls, gate, handler


def test_chunks_queued_behind_a_call_go_to_the_next_call_together_up_to_the_limit():
    calls, gate, handler = _gated_calls()

    async def scenario():
        h = Harness(coalesce=25)
        await h.submit(chunk(T0, 0, 10), handler)
        await asyncio.sleep(0.01)  # the first call is in flight and waits
        for first in (10, 20, 30, 40, 50):
            await h.submit(chunk(T0, first, 10), handler)
        gate.set()
        await h.settle()
        await h.lanes.stop(timeout=5)
        return h

    h = asyncio.run(scenario())
    # 10 + 10 = 20 fits the limit of 25, a third chunk would not
    assert calls == [(0, 9, 10), (10, 29, 20), (30, 49, 20), (50, 59, 10)]
    assert h.acked == [(0, 0, 9), (0, 10, 29), (0, 30, 49), (0, 50, 59)]
    assert h.budget.in_flight == 0


def test_without_a_limit_every_fetched_chunk_is_its_own_call():
    calls, gate, handler = _gated_calls()

    async def scenario():
        h = Harness()
        await h.submit(chunk(T0, 0, 10), handler)
        await asyncio.sleep(0.01)
        for first in (10, 20):
            await h.submit(chunk(T0, first, 10), handler)
        gate.set()
        await h.settle()
        await h.lanes.stop(timeout=5)

    asyncio.run(scenario())
    assert calls == [(0, 9, 10), (10, 19, 10), (20, 29, 10)]


def test_chunks_of_another_generation_are_not_merged():
    calls, gate, handler = _gated_calls()

    async def scenario():
        h = Harness(coalesce=1_000)
        await h.submit(chunk(T0, 0, 10), handler)
        await asyncio.sleep(0.01)
        await h.submit(chunk(T0, 10, 10, generation=1), handler)
        await h.submit(chunk(T0, 20, 10, generation=2), handler)
        await h.submit(chunk(T0, 30, 10, generation=2), handler)
        h.generation = 2
        gate.set()
        await h.settle()
        await h.lanes.stop(timeout=5)
        return h

    h = asyncio.run(scenario())
    assert calls == [(0, 9, 10), (10, 19, 10), (20, 39, 20)]
    # generation 1's calls finished after the generation changed: not acknowledged
    assert h.acked == [(0, 20, 39)]
    assert h.budget.in_flight == 0
