"""Read a topic back from the beginning to its current end (for demos, tests and reports)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streams.settings import Settings

__all__ = ["Record", "read_topic"]


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    partition: int
    offset: int


def read_topic(settings: Settings, topic: str, timeout: float = 30.0) -> list[Record]:
    """Every record of ``topic`` up to the end offsets at call time, partition by partition."""
    consumer = Consumer(settings.confluent_config(**{
        "group.id": f"forewarn-readback-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "log_level": 3,
    }))
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics[topic]
        ends = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        pending = dict(ends)
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error():
                    continue
                p = msg.partition()
                if p in pending and msg.offset() < ends[p]:
                    out.append(Record(msg.key(), msg.value(), dict(msg.headers() or []), p, msg.offset()))
                    if msg.offset() + 1 >= ends[p]:
                        pending.pop(p)
        return out
    finally:
        consumer.close()
