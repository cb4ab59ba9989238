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
from streams.config import effective_config
from streams.errors import KafkaUnavailable
from streams.settings import Settings
from streams.topics import admin_client

__all__ = ["TICK_TYPE", "WatermarkTicker", "publish_watermark_ticks"]

TICK_TYPE = "forewarn.watermark"


class WatermarkTicker:
    """Sends ticks to every partition of a topic; keeps its producer between calls (one per simulated day)."""

    def __init__(self, settings: Settings, topic: str | None = None):
        self.topic = topic or settings.topics.usage_events
        meta = admin_client(settings).list_topics(self.topic, timeout=30).topics[self.topic]
        self.partitions = sorted(meta.partitions)
        self.lateness_us = effective_config(settings).engine.allowed_lateness_us
        self.producer = Producer(settings.confluent_config(**{"enable.idempotence": True, "linger.ms": 0,
                                                              "log_level": 3}))
        self.run = uuid.uuid4().hex[:12]
        self.sent = 0

    def tick(self, until_us: int) -> int:
        """Send one tick per partition so each watermark passes ``until_us``; returns the partition count."""
        stamp = format_rfc3339(until_us + self.lateness_us + 1)
        for p in self.partitions:
            self.sent += 1
            value = orjson.dumps({"event_id": f"tick-{self.run}-{self.sent}", "account_id": f"forewarn-tick-{p}",
                                  "type": TICK_TYPE, "occurred_at": stamp})
            self.producer.produce(self.topic, value, f"forewarn-tick-{p}".encode(), partition=p)
        if self.producer.flush(30):
            raise KafkaUnavailable(f"watermark ticks to {self.topic!r} were not acknowledged")
        return len(self.partitions)


def publish_watermark_ticks(settings: Settings, until_us: int, topic: str | None = None) -> int:
    """Send one tick per partition so each watermark passes ``until_us``; returns the partition count."""
    return WatermarkTicker(settings, topic).tick(until_us)
