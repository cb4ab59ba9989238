"""Shared steps of the live-replay tests: put a population on Kafka, watch the workers apply it."""

from __future__ import annotations

import time

import redis
from confluent_kafka import Consumer, TopicPartition

from streams.keys import PartitionKeys
from streams.producer import RecordProducer, account_key
from streams.settings import Settings
from streams.ticks import publish_watermark_ticks
from streams.topics import ensure_topics


def produce_population(settings: Settings, lines: list[bytes], until_us: int) -> None:
    """Every event line keyed by its account, then the watermark ticks up to ``until_us``."""
    ensure_topics(settings)
    producer = RecordProducer(settings)
    producer.produce_many(settings.topics.usage_events, ((account_key(v), v) for v in lines))
    producer.flush()
    publish_watermark_ticks(settings, until_us)


def end_offsets(settings: Settings) -> dict[int, int]:
    topic = settings.topics.usage_events
    c = Consumer(settings.confluent_config(**{"group.id": "offsets-probe", "log_level": 3}))
    try:
        parts = c.list_topics(topic, timeout=30).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
    finally:
        c.close()


def applied(client: redis.Redis, settings: Settings, partition: int) -> int:
    """The rule step's applied offset of ``partition`` (-1 before its first chunk)."""
    value = client.hget(PartitionKeys(f"det:{settings.topics.usage_events}", partition).record, "applied_offset")
    return int(value) if value is not None else -1


def applied_total(client: redis.Redis, settings: Settings, ends: dict[int, int]) -> int:
    """Records applied over all partitions."""
    return sum(applied(client, settings, p) + 1 for p in ends)


def wait_done(client: redis.Redis, settings: Settings, ends: dict[int, int], workers, timeout: float = 600.0) -> None:
    """Until every partition's applied offset reaches its end and its outbox is published (empty); fails if a
    worker dies or time runs out. The outbox is published after the apply that moves the offset, and the
    published counters move after that: a scrape right when the offsets are in could miss the last ones."""
    deadline = time.monotonic() + timeout

    def published(p: int) -> bool:
        return client.llen(PartitionKeys(f"det:{settings.topics.usage_events}", p).outbox) == 0

    while not all(applied(client, settings, p) >= end - 1 and published(p) for p, end in ends.items()):
        for w in workers:
            assert w.alive(), f"worker died: see {w.log_path}"
        assert time.monotonic() < deadline, "workers did not finish in time"
        time.sleep(0.5)
    time.sleep(0.2)  # the counters move just after the outbox is trimmed
