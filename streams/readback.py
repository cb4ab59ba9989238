"""Read a topic back from the beginning to its current end (for demos, tests and reports)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from streams.settings import Settings

__all__ = ["Record", "read_topic", "TopicFollower"]


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


class TopicFollower:
    """Reads a topic from the beginning, a slice at a time: ``poll_to_end`` returns what arrived since last call."""

    def __init__(self, settings: Settings, topic: str, timeout: float = 30.0):
        self.topic = topic
        self.timeout = timeout
        self._consumer = Consumer(settings.confluent_config(**{
            "group.id": f"forewarn-follow-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "log_level": 3,
        }))
        meta = self._consumer.list_topics(topic, timeout=timeout).topics[topic]
        self._partitions = sorted(meta.partitions)
        # End offsets through an admin client of its own: on the consumer's connection the
        # request would queue behind the long-polling fetch (up to fetch.wait.max.ms each).
        self._admin = AdminClient(settings.confluent_config(**{"log_level": 3}))
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in self._partitions])
        self._next = {p: 0 for p in self._partitions}

    def end_offsets(self) -> dict[int, int]:
        futures = self._admin.list_offsets({TopicPartition(self.topic, p): OffsetSpec.latest()
                                            for p in self._partitions}, request_timeout=self.timeout)
        return {tp.partition: f.result().offset for tp, f in futures.items()}

    def poll_to_end(self) -> list[Record]:
        ends = self.end_offsets()
        out: list[Record] = []
        deadline = time.monotonic() + self.timeout
        while any(self._next[p] < ends[p] for p in self._partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic}: could not read to the end offsets {ends} in {self.timeout:.0f}s")
            for msg in self._consumer.consume(10_000, timeout=0.2):
                if msg.error():
                    continue
                p = msg.partition()
                out.append(Record(msg.key(), msg.value(), dict(msg.headers() or []), p, msg.offset()))
                self._next[p] = msg.offset() + 1
        return out

    def close(self) -> None:
        self._consumer.close()
