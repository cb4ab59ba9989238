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


def _end_offsets(settings: Settings, topic: str, timeout: float) -> dict[int, int]:
    """Each partition's high watermark, from a read_uncommitted client.

    A read_committed client is told the last *stable* offset, which lags while the
    broker is still writing the commit markers of a transaction that has already
    returned; the high watermark does not.
    """
    probe = Consumer(settings.confluent_config(**{
        "group.id": f"forewarn-readback-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "isolation.level": "read_uncommitted", "log_level": 3,
    }))
    try:
        parts = probe.list_topics(topic, timeout=timeout).topics[topic].partitions
        return {p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in parts}
    finally:
        probe.close()


def read_topic(settings: Settings, topic: str, timeout: float = 30.0) -> list[Record]:
    """Every committed record of ``topic`` up to the end offsets at call time, partition by partition.

    It stops on the consumer's *position*, not on the last record seen: a topic written
    in transactions (``forewarn dlq replay``) ends with a commit marker that is never
    delivered as a record. Raises ``TimeoutError`` rather than return part of a topic.
    """
    ends = _end_offsets(settings, topic, timeout)
    consumer = Consumer(settings.confluent_config(**{
        "group.id": f"forewarn-readback-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "log_level": 3,
    }))
    try:
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        out: list[Record] = []
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: could not read partitions {sorted(pending)} to their end offsets "
                                   f"in {timeout:.0f}s")
            for msg in consumer.consume(10_000, timeout=0.2):
                if msg.error():
                    continue
                p = msg.partition()
                if msg.offset() < ends[p]:
                    out.append(Record(msg.key(), msg.value(), dict(msg.headers() or []), p, msg.offset()))
            for tp in consumer.position([TopicPartition(topic, p) for p in pending]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
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
            # past a transaction's commit marker, which is never delivered as a record
            for tp in self._consumer.position([TopicPartition(self.topic, p) for p in self._partitions]):
                if tp.offset > self._next[tp.partition]:
                    self._next[tp.partition] = tp.offset
        return out

    def close(self) -> None:
        self._consumer.close()
