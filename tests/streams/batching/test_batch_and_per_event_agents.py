"""A batch agent and an ordinary per-event Faust agent work side by side in one app."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from batch_harness import clear_redis, redis_state, wait_until_applied
from streams.batching.count_worker import per_event_key
from streams.batching.loadgen import create_topic, end_offsets, produce_events

pytestmark = pytest.mark.integration


def _per_event_count(settings, namespace: str) -> int:
    async def read() -> int:
        client = aioredis.from_url(settings.redis_url.get_secret_value())
        try:
            return int(await client.get(per_event_key(namespace)) or 0)
        finally:
            await client.aclose()

    return asyncio.run(read())


def test_per_event_agent_keeps_working_next_to_a_batch_agent(settings, spawn_worker, namespace):
    batch_topic = f"batch-side-{uuid.uuid4().hex[:8]}"
    event_topic = f"event-side-{uuid.uuid4().hex[:8]}"
    create_topic(settings, batch_topic, 4)
    create_topic(settings, event_topic, 2)
    expected = produce_events(settings, batch_topic, 30_000)
    produce_events(settings, event_topic, 1_500, start=10_000_000)
    ends = end_offsets(settings, batch_topic, 4)

    worker = spawn_worker("--topic", batch_topic, "--group", f"side-{uuid.uuid4().hex[:8]}",
                          "--namespace", namespace, "--per-event-topic", event_topic, "--ttl", "3600")
    wait_until_applied(settings, namespace, batch_topic, ends, timeout=90, workers=[worker])
    worker.wait_for(lambda: _per_event_count(settings, namespace) >= 1_500, 60, "the per-event agent")

    counts, _ = redis_state(settings, namespace, batch_topic, 4)
    assert counts == dict(expected)
    assert _per_event_count(settings, namespace) == 1_500
    assert worker.proc.poll() is None
    clear_redis(settings, namespace, batch_topic, 4)

    async def drop() -> None:
        client = aioredis.from_url(settings.redis_url.get_secret_value())
        await client.delete(per_event_key(namespace))
        await client.aclose()

    asyncio.run(drop())
