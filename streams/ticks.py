"""Watermark ticks: one event per partition that moves every watermark to a given time.

At the end of a replay, or to close a quiet period, a producer can send a tick of
type ``forewarn.watermark`` to each partition with ``occurred_at`` = the time +
the allowed lateness: every partition's watermark then reaches the time, so every
deadline at or before it fires. A tick is an ordinary valid event of a type no
trigger names: it changes no account's state.
"""

from __future__ import annotations

import uuid

import orjson
from confluent_kafka import Producer

from schemas.timefmt import format_rfc3339
from streams.errors import KafkaUnavailable
from streams.settings import Settings
from streams.topics import admin_client

__all__ = ["TICK_TYPE", "publish_watermark_ticks"]

TICK_TYPE = "forewarn.watermark"


def publish_watermark_ticks(settings: Settings, until_us: int, topic: str | None = None) -> int:
    """Send one tick per partition so each watermark passes ``until_us``; returns the partition count."""
    topic = topic or settings.topics.usage_events
    meta = admin_client(settings).list_topics(topic, timeout=30).topics[topic]
    lateness_us = int(settings.allowed_lateness_s * 1_000_000)
    stamp = format_rfc3339(until_us + lateness_us + 1)
    producer = Producer(settings.confluent_config(**{"enable.idempotence": True, "log_level": 3}))
    run = uuid.uuid4().hex[:12]
    for p in sorted(meta.partitions):
        value = orjson.dumps({"event_id": f"tick-{run}-{p}", "account_id": f"forewarn-tick-{p}",
                              "type": TICK_TYPE, "occurred_at": stamp})
        producer.produce(topic, value, f"forewarn-tick-{p}".encode(), partition=p)
    if producer.flush(30):
        raise KafkaUnavailable(f"watermark ticks to {topic!r} were not acknowledged")
    return len(meta.partitions)
