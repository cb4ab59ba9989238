"""Read a topic back from the beginning to its current end (for demos, tests and reports).

What cannot be read is a :class:`TopicReadError` (a ``ForewarnError``, so the CLI
prints it as one line): a broker error, or a partition that stops short of its
end offset for longer than the timeout (a :class:`TopicReadTimeout`, also a
``TimeoutError``) — the message names the topic, the partition, where it stopped
and what to do. :func:`iter_topic` yields the records as they are read, so a long
topic is never held in memory; :func:`read_topic` is its list.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from streams.errors import StreamsError
from streams.logfilter import unpolled
from streams.settings import Settings
from streams.topics import admin_client

__all__ = ["Record", "read_topic", "iter_topic", "TopicFollower", "TopicReadError", "TopicReadTimeout"]


class TopicReadError(StreamsError):
    """A topic could not be read back to its end; the message names the topic (and partition) and the fix."""


class TopicReadTimeout(TopicReadError, TimeoutError):
    """Partitions did not reach their end offsets in time."""


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    partition: int
    offset: int


def _watermarks(settings: Settings, topic: str, timeout: float,
                isolation: str = "read_uncommitted") -> dict[int, tuple[int, int]]:
    """Each partition's (low, high) watermarks, by default from a read_uncommitted client.

    A read_committed client is told the last *stable* offset as its high mark, which
    lags while the broker is still writing the commit markers of a transaction that
    has already returned; the high watermark does not. The low watermark is the log
    start: retention may have deleted everything below it, or the whole partition.
    """
    probe = Consumer(unpolled(settings.confluent_config(**{  # asks for metadata and offsets, never polls
        "group.id": f"forewarn-readback-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "isolation.level": isolation, "log_level": 3,
    })))
    try:
        parts = probe.list_topics(topic, timeout=timeout).topics[topic].partitions
        return {p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout) for p in parts}
    finally:
        probe.close()


def _why_stopped(settings: Settings, topic: str, stopped: dict[int, int], ends: dict[int, int]) -> str:
    """Where each late partition stopped, and whether an open transaction holds it there."""
    try:
        stable = {p: high for p, (_, high) in _watermarks(settings, topic, 10.0, "read_committed").items()}
    except KafkaException:
        stable = {}
    parts = []
    for p in sorted(stopped):
        at, end = stopped[p], ends[p]
        held = p in stable and at >= stable[p] and stable[p] < end
        parts.append(f"partition {p} stopped at offset {at} of {end}"
                     + (f", behind an open transaction holding offsets {stable[p]} to {end - 1}" if held else ""))
    return "; ".join(parts)


def read_topic(settings: Settings, topic: str, timeout: float = 30.0) -> list[Record]:
    """Every committed record of ``topic`` up to the end offsets at call time, as a list (see :func:`iter_topic`)."""
    return list(iter_topic(settings, topic, timeout))


def iter_topic(settings: Settings, topic: str, timeout: float = 30.0,
               on_progress: Callable[[int], None] | None = None) -> Iterator[Record]:
    """Every committed record of ``topic`` up to the end offsets at call time, partition by partition, as read.

    It stops on the consumer's *position*, not on the last record seen: a topic written
    in transactions (``forewarn dlq replay``) ends with a commit marker that is never
    delivered as a record. A partition that retention emptied (its low watermark is at its
    high one) has nothing to read and is skipped.

    ``timeout`` bounds the time *without progress* (no record below the end offsets and no
    partition's position moving), not the whole read: a long topic takes as long as it
    takes, and the time the caller spends between records does not count. Raises
    :class:`TopicReadTimeout` rather than stop short of the end offsets (what was yielded
    before it is then only part of the topic), :class:`TopicReadError` on a broker error. The consumer is closed
    when the read ends, fails, or the caller stops early (closes the generator).
    ``on_progress`` is called after each batch with the number of records yielded so far.
    """
    try:
        yield from _iter_topic(settings, topic, timeout, on_progress)
    except KafkaException as exc:
        raise TopicReadError(f"{topic}: cannot read it back from Kafka ({settings.kafka_bootstrap_servers}): "
                             f"{exc.args[0].str() if exc.args else exc}; check that the brokers are up and the "
                             "topic exists (forewarn topics create)") from None


def _iter_topic(settings: Settings, topic: str, timeout: float,
                on_progress: Callable[[int], None] | None) -> Iterator[Record]:
    marks = _watermarks(settings, topic, timeout)
    ends = {p: high for p, (_, high) in marks.items()}
    consumer = Consumer(settings.confluent_config(**{
        "group.id": f"forewarn-readback-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "log_level": 3,
    }))
    try:
        pending = {p for p, (low, high) in marks.items() if high > low}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        stopped = {p: marks[p][0] for p in pending}  # each pending partition's position, from its log start
        count = 0
        last_progress = time.monotonic()
        while pending:
            if time.monotonic() - last_progress > timeout:
                where = _why_stopped(settings, topic, {p: stopped[p] for p in pending}, ends)
                raise TopicReadTimeout(
                    f"{topic}: could not read partitions {sorted(pending)} to their end offsets: no progress in "
                    f"{timeout:.0f}s ({where}); if a producer's transaction is open, run again once it commits or "
                    "aborts (transaction.timeout.ms aborts it at the latest), else check the brokers")
            moved = False
            for msg in consumer.consume(10_000, timeout=0.2):
                if msg.error():
                    continue
                p = msg.partition()
                if msg.offset() < ends[p]:
                    moved = True
                    count += 1
                    yield Record(msg.key(), msg.value(), dict(msg.headers() or []), p, msg.offset())
            for tp in consumer.position([TopicPartition(topic, p) for p in pending]):
                if tp.offset >= ends[tp.partition]:
                    pending.discard(tp.partition)
                    moved = True
                elif tp.offset > stopped[tp.partition]:  # past records, a commit marker or an aborted transaction
                    stopped[tp.partition] = tp.offset
                    moved = True
            if moved:
                # after the batch was yielded: the caller's time with the records is not a stall
                last_progress = time.monotonic()
                if on_progress is not None:
                    on_progress(count)
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
        self._admin = admin_client(settings)
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
                raise TopicReadTimeout(f"{self.topic}: could not read to the end offsets {ends} in "
                                       f"{self.timeout:.0f}s; check the brokers and any open transaction")
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
