"""Synthetic usage events for the batch path's tests and benchmark, with the counts they must produce.

Events are real contract JSON (about 280 bytes), keyed by account, spread over
``accounts`` accounts so every partition gets a share. ``produce_events``
returns the per-account counts the data holds: the ground truth a fault-free
run, and every faulty run, must end with.

>>> key, value = synthetic_event(7, accounts=100)
>>> key, len(value) > 200
(b'acct-00007', True)
"""

from __future__ import annotations

import time
from collections import Counter

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from streams.settings import Settings
from streams.topics import ensure_topics

__all__ = ["synthetic_event", "create_topic", "produce_events", "end_offsets", "committed_offsets"]

_TYPES = ("feature.used", "session.started", "feature.used", "payment.succeeded", "ticket.opened")
_FEATURES = ("reports", "dashboards", "integrations", "exports", "alerts")


def synthetic_event(i: int, accounts: int) -> tuple[bytes, bytes]:
    """Event number ``i``: (account key, JSON value)."""
    account = f"acct-{i % accounts:05d}"
    value = orjson.dumps({
        "event_id": f"evt-{i:012d}",
        "account_id": account,
        "user_id": f"user-{i % 7919:05d}",
        "type": _TYPES[i % len(_TYPES)],
        "occurred_at": f"2026-01-{1 + (i // 86400) % 28:02d}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
        "properties": {"feature": _FEATURES[i % len(_FEATURES)], "plan": "growth", "region": "eu-west-1",
                       "path": "/app/reports/weekly-summary", "client": "web-2026.01"},
    })
    return account.encode(), value


def create_topic(settings: Settings, name: str, partitions: int) -> None:
    ensure_topics(settings, [name], partitions=partitions)


def produce_events(settings: Settings, topic: str, n: int, *, accounts: int = 5000, start: int = 0,
                   rate_per_s: float | None = None) -> Counter:
    """Produce events ``start .. start+n-1``; returns the count per account. ``rate_per_s`` paces them."""
    producer = Producer(settings.confluent_config(**{
        "linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4",
        "queue.buffering.max.messages": 1_000_000, "log_level": 3,
    }))
    counts: Counter = Counter()
    began = time.monotonic()
    for i in range(start, start + n):
        key, value = synthetic_event(i, accounts)
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        counts[key.decode()] += 1
        if (i - start) % 10_000 == 0:
            producer.poll(0)
            if rate_per_s:
                ahead = (i - start) / rate_per_s - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
    remaining = producer.flush(120)
    if remaining:
        raise RuntimeError(f"{remaining} events still unsent to {topic} after 120 s")
    return counts


def _client(settings: Settings, group: str) -> Consumer:
    return Consumer(settings.confluent_config(**{"group.id": group, "enable.auto.commit": False, "log_level": 3}))


def end_offsets(settings: Settings, topic: str, partitions: int) -> dict[int, int]:
    """Log end offset (next offset to be written) per partition."""
    consumer = _client(settings, "forewarn-loadgen-watermarks")
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        consumer.close()


def committed_offsets(settings: Settings, group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offset per partition (-1001 where none)."""
    consumer = _client(settings, group)
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()
