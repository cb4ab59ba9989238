"""A chunk of null-key, null-value records (the contract dead-letters them) must not break the in-flight
budget: its size summed to -2, and releasing another partition's chunk first took the budget below zero
inside that lane's task, which died silently while later chunks of its partition queued for ever."""

from __future__ import annotations

import asyncio

from streams.batching.base import TP, Chunk, PlainRecord, chunk_bytes
from streams.batching.budget import InflightBudget
from streams.batching.lanes import Lanes


def test_a_chunk_of_null_records_and_another_partitions_chunk_both_finish_and_are_acknowledged():
    async def main() -> tuple[list, list, int]:
        budget = InflightBudget(1 << 20)
        acked, failures = [], []

        async def on_failure(failure) -> None:
            failures.append(failure)

        lanes = Lanes(ack=lambda tp, a, b: acked.append((tp.partition, a, b)), generation=lambda: 1,
                      budget=budget, on_failure=on_failure)
        p0, p1 = TP("usage-events", 0), TP("usage-events", 1)
        gate = asyncio.Event()

        async def handler(tp, records) -> None:
            if tp == p0:
                await gate.wait()  # the null records' chunk is still in flight when p1's finishes
            await asyncio.sleep(0)

        for tp, records in ((p0, [PlainRecord(10, None, None)]), (p1, [PlainRecord(20, b"acct-1", b'{"x":1}')]),
                            (p1, [PlainRecord(21, b"acct-1", b'{"x":2}')])):
            n = chunk_bytes(records)
            await budget.acquire(n)
            assert lanes.submit(Chunk(tp, records, 1, n), handler)
        await asyncio.sleep(0.05)
        gate.set()
        for _ in range(100):
            if len(acked) == 3:
                break
            await asyncio.sleep(0.01)
        return sorted(acked), failures, budget.in_flight

    acked, failures, in_flight = asyncio.run(main())
    assert acked == [(0, 10, 10), (1, 20, 20), (1, 21, 21)] and failures == [] and in_flight == 0
