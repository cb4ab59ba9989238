"""A handler that raises takes its worker down loudly, acknowledges nothing past the failure,
and a restarted worker resumes from the last applied offset with exact counts."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer

from batch_harness import clear_redis, redis_state, wait_until_applied
from streams.batching.loadgen import committed_offsets, create_topic, end_offsets, produce_events

pytestmark = pytest.mark.integration

PARTITIONS = 4
POISON = "acct-poison"


def _produce_poison(settings, topic: str) -> tuple[int, int]:
    """One valid event of the poisoned account; returns its (partition, offset)."""
    delivered: list = []
    producer = Producer(settings.confluent_config(**{"log_level": 3}))
    value = (b'{"event_id":"evt-poison","account_id":"acct-poison","type":"feature.used",'
             b'"occurred_at":"2026-01-05T10:00:00Z"}')
    producer.produce(topic, value, POISON.encode(), on_delivery=lambda err, msg: delivered.append((err, msg)))
    producer.flush(30)
    err, msg = delivered[0]
    assert err is None
    return msg.partition(), msg.offset()


def test_failing_handler_stops_worker_and_restart_resumes(settings, spawn_worker, namespace):
    topic = f"batch-fail-{uuid.uuid4().hex[:8]}"
    group = f"batch-fail-{uuid.uuid4().hex[:8]}"
    create_topic(settings, topic, PARTITIONS)
    expected = produce_events(settings, topic, 20_000)
    poison_partition, poison_offset = _produce_poison(settings, topic)
    expected.update(produce_events(settings, topic, 20_000, start=20_000))
    expected[POISON] += 1
    ends = end_offsets(settings, topic, PARTITIONS)
    args = ["--topic", topic, "--group", group, "--namespace", namespace, "--session-timeout", "6", "--ttl", "3600"]

    failing = spawn_worker(*args, "--fail-on-account", POISON)
    returncode = failing.proc.wait(180)
    log = failing.log_text()

    assert returncode != 0, "a failing handler must end the worker with a non-zero exit"
    assert f"batch handler count_events failed on {topic}[{poison_partition}]" in log
    assert "PoisonedAccount" in log and f"at offset {poison_offset}" in log
    committed = committed_offsets(settings, group, topic, PARTITIONS)
    counts, applied = redis_state(settings, namespace, topic, PARTITIONS)
    # nothing at or past the failing chunk was acknowledged or applied
    assert committed[poison_partition] <= poison_offset
    assert applied[poison_partition] is None or applied[poison_partition] < poison_offset
    assert POISON not in counts

    restarted = spawn_worker(*args)
    wait_until_applied(settings, namespace, topic, ends, timeout=90, workers=[restarted])
    counts, applied = redis_state(settings, namespace, topic, PARTITIONS)
    assert counts == dict(expected)
    assert applied == {p: ends[p] - 1 for p in range(PARTITIONS)}
    assert restarted.proc.poll() is None
    clear_redis(settings, namespace, topic, PARTITIONS)
