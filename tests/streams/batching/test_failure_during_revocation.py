"""A handler that fails while its partition is being revoked must still take the worker down.

The failure path (commit, then crash) runs in the failed lane's task; a revocation's timeout cancels that
task. The crash and the hard-exit timer must not depend on the task surviving its commit."""

from __future__ import annotations

import asyncio

import faust
from prometheus_client import CollectorRegistry

import streams.batching.consumer as consumer_module
from streams.batching.base import TP, Chunk, PlainRecord
from streams.batching.consumer import BatchConsumer
from streams.batching.runtime import attach_batching


def test_a_failure_whose_commit_is_cancelled_by_the_revocation_still_crashes_the_worker(monkeypatch):
    loop = asyncio.new_event_loop()
    try:
        app = faust.App("fail-during-revoke", broker="batchkafka://127.0.0.1:9", loop=loop)
        runtime = attach_batching(app, max_inflight_bytes=1 << 20, registry=CollectorRegistry(), revoke_timeout_s=0.5)
        consumer = app.consumer
        crashed, exits = [], []

        async def slow_commit(*_args, **_kwargs) -> bool:  # a commit during a rebalance
            await asyncio.sleep(1.0)
            return True

        async def crash(reason) -> None:
            crashed.append(reason)

        async def faust_part(*_args, **_kwargs) -> None:  # Faust's own revocation needs a broker
            return None

        monkeypatch.setattr(consumer, "commit", slow_commit)
        monkeypatch.setattr(app, "crash", crash)
        monkeypatch.setattr(consumer_module, "_exit_if_stuck", exits.append)
        monkeypatch.setattr(BatchConsumer.__mro__[1], "on_partitions_revoked", faust_part)
        p0 = TP("usage-events", 0)

        async def scenario() -> None:
            lanes = consumer._ensure_lanes(runtime)

            async def handler(tp, records) -> None:
                await asyncio.sleep(0.4)  # in flight when the revocation starts
                raise ConnectionError("Redis went away")

            await runtime.budget.acquire(2)
            lanes.submit(Chunk(p0, [PlainRecord(0, b"k", b"v")], app.consumer_generation_id, 2), handler)
            await asyncio.sleep(0.01)
            await consumer.on_partitions_revoked({p0})
            await asyncio.sleep(1.5)

        loop.run_until_complete(scenario())
        assert runtime.failure is not None
        assert exits, "the hard-exit timer was never armed"
        assert crashed, "app.crash was never called: the worker would go on with a failed lane"
    finally:
        loop.close()
