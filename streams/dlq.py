"""Replaying dead-lettered records to the topic they came from, once, after a fix.

A dead-lettered record carries its ``reason`` and ``source-topic`` headers (see
``streams.agents.dead_letter.dlq_headers``). ``replay_dlq`` re-publishes the records
of a dead-letter topic — all of them, or those of one reason — to their source
topic, byte for byte, with a ``replayed-from`` header naming the DLQ position.

Nothing is doubled and nothing is lost, however often it runs and wherever it
stops: every chunk of re-published records and the replay's consumer-group
offsets are committed in one Kafka transaction, so either both happen or
neither does. A killed run leaves an open transaction that the next run's
producer fences and aborts (consumers reading ``read_committed`` never see it).

Which records have been replayed is kept as consumer-group offsets on the DLQ
topic: one group for "every reason" and one per reason, so replaying
``--reason invalid_json`` today and everything else next week replays each
record once. A record at offset *o* of partition *p* with reason *r* is done when
*o* is below the "every reason" group's offset or below reason *r*'s group offset.
Records that arrive in the DLQ while a replay runs are left for the next run.
"""

from __future__ import annotations

import collections
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streams.errors import StreamsError
from streams.settings import Settings

__all__ = ["DlqReplayError", "ReplayLedger", "ReplayResult", "committed_offsets", "fence_replay", "replay_dlq",
           "replay_group"]

REPLAYED_FROM = "replayed-from"
UNKNOWN_REASON = "unknown"


class DlqReplayError(StreamsError):
    """A replay could not go on; everything committed before it stays replayed exactly once."""


def replay_group(settings: Settings, dlq_topic: str, reason: str | None) -> str:
    """Consumer-group id that remembers what was replayed (for one reason, or for all).

    >>> s = Settings(app_id="forewarn")
    >>> replay_group(s, "usage-events.dlq", None)
    'forewarn.dlq-replay.usage-events.dlq'
    >>> replay_group(s, "usage-events.dlq", "invalid json!")
    'forewarn.dlq-replay.usage-events.dlq.reason.invalid_json_'
    """
    base = f"{settings.app_id}.dlq-replay.{dlq_topic}"
    if reason is None:
        return base
    return f"{base}.reason.{re.sub(r'[^A-Za-z0-9._-]', '_', reason)[:100]}"


@dataclass
class ReplayLedger:
    """Decides which DLQ records are still due, from the committed offsets of the replay groups.

    ``floor`` holds the "every reason" group's offsets; ``by_reason`` each
    reason group's. Plain data, so the rule is tested without Kafka:

    >>> ledger = ReplayLedger(floor={0: 10}, by_reason={"invalid_json": {0: 15}})
    >>> ledger.due(0, 9, "late"), ledger.due(0, 12, "late"), ledger.due(0, 12, "invalid_json")
    (False, True, False)
    >>> ledger.due(0, 15, "invalid_json"), ledger.due(1, 0, "invalid_json")
    (True, True)
    """

    floor: dict[int, int] = field(default_factory=dict)
    by_reason: dict[str, dict[int, int]] = field(default_factory=dict)

    def start(self, partition: int, reason: str | None) -> int:
        """The first offset of ``partition`` a run for ``reason`` (None = all) must read."""
        mark = self.floor.get(partition, 0)
        if reason is not None:
            mark = max(mark, self.by_reason.get(reason, {}).get(partition, 0))
        return mark

    def due(self, partition: int, offset: int, reason: str) -> bool:
        return offset >= self.start(partition, reason)


@dataclass
class ReplayResult:
    """What one run did: counts by (reason, destination topic), and what it passed over."""

    dry_run: bool
    replayed: collections.Counter = field(default_factory=collections.Counter)
    already_replayed: int = 0
    other_reasons: int = 0
    scanned: int = 0

    @property
    def total(self) -> int:
        return sum(self.replayed.values())

    def rows(self) -> list[tuple[str, str, int]]:
        return [(reason, topic, n) for (reason, topic), n in sorted(self.replayed.items())]


_COORDINATOR_MOVING = (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                       KafkaError.COORDINATOR_NOT_AVAILABLE)


def committed_offsets(settings: Settings, group: str, topic: str, partitions: list[int],
                      timeout: float = 30.0) -> dict[int, int]:
    """The offsets ``group`` has committed on ``topic`` (partitions without a commit are left out)."""
    consumer = Consumer(settings.confluent_config(**{"group.id": group, "enable.auto.commit": False,
                                                      "log_level": 3}))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                got = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=timeout)
                break
            except KafkaException as exc:
                # A young cluster answers "not coordinator" while it creates __consumer_offsets.
                err = exc.args[0]
                if not (err.retriable() or err.code() in _COORDINATOR_MOVING) or time.monotonic() > deadline:
                    raise DlqReplayError(
                        f"cannot read the replay offsets of group {group!r}: {err.str()}") from None
                time.sleep(0.2)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in got if tp.offset != OFFSET_INVALID and tp.offset >= 0}


def _header(headers: dict[str, bytes], name: str) -> str | None:
    raw = headers.get(name)
    return raw.decode("utf-8", "replace") if raw is not None else None


def replay_dlq(settings: Settings, dlq_topic: str, reason: str | None = None, dry_run: bool = False,
               to_topic: str | None = None, chunk: int = 2000, timeout: float = 30.0,
               on_progress: Callable[[int], None] | None = None) -> ReplayResult:
    """Re-publish the due records of ``dlq_topic`` (only ``reason``'s when given) to their source topics.

    ``to_topic`` overrides the ``source-topic`` header (needed for records without
    one). ``dry_run`` counts what would be replayed and changes nothing.
    """
    group = replay_group(settings, dlq_topic, reason)
    consumer = Consumer(settings.confluent_config(**{
        "group.id": group, "enable.auto.commit": False, "enable.auto.offset.store": False,
        "isolation.level": "read_committed", "auto.offset.reset": "earliest", "log_level": 3,
    }))
    producer: Producer | None = None
    result = ReplayResult(dry_run=dry_run)
    try:
        try:
            meta = consumer.list_topics(dlq_topic, timeout=timeout).topics[dlq_topic]
        except KafkaException as exc:
            raise DlqReplayError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc.args[0].str()}") from None
        if meta.error is not None:
            raise DlqReplayError(f"dead-letter topic {dlq_topic!r} does not exist ({meta.error.str()})")
        partitions = sorted(meta.partitions)
        if not dry_run:
            # Fence first: a killed earlier run may have left a transaction open with its
            # offsets pending, and the group's committed offsets cannot be read (they are
            # "unstable") until that transaction is aborted — by this init, or only by the
            # broker's transaction timeout.
            producer = _transactional_producer(settings, dlq_topic, timeout)
        ledger = ReplayLedger(floor=committed_offsets(settings, replay_group(settings, dlq_topic, None), dlq_topic,
                                               partitions, timeout))
        if reason is not None:
            ledger.by_reason[reason] = committed_offsets(settings, group, dlq_topic, partitions, timeout)

        # Snapshot the end of each partition: the run stops there, so it always ends.
        todo: dict[int, tuple[int, int]] = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(dlq_topic, p), timeout=timeout)
            start = max(low, ledger.start(p, reason))
            if start < high:
                todo[p] = (start, high)
        if not todo:
            return result
        if producer is not None:
            producer.begin_transaction()
        consumer.assign([TopicPartition(dlq_topic, p, start) for p, (start, _) in todo.items()])

        known_topics: set[str] = set()
        positions: dict[int, int] = {}
        in_chunk = 0
        pending = dict(todo)
        deadline = time.monotonic() + max(timeout, 60.0)
        while pending:
            batch = consumer.consume(1000, timeout=0.5)
            if not batch:
                _drop_finished(consumer, dlq_topic, pending, positions)
                if not pending:
                    break
                if time.monotonic() > deadline:
                    raise DlqReplayError(f"no records from {dlq_topic} for a while; partitions left: {sorted(pending)}")
                continue
            deadline = time.monotonic() + max(timeout, 60.0)
            for msg in batch:
                if msg.error():
                    raise DlqReplayError(f"reading {dlq_topic} failed: {msg.error().str()}")
                p, offset = msg.partition(), msg.offset()
                if p not in pending or offset >= pending[p][1]:
                    continue
                result.scanned += 1
                headers = dict(msg.headers() or [])
                why = _header(headers, "reason") or UNKNOWN_REASON
                if reason is not None and why != reason:
                    result.other_reasons += 1
                elif reason is None and not _due_for_reason(ledger, settings, dlq_topic, partitions, p, offset,
                                                            why, timeout):
                    result.already_replayed += 1
                else:
                    dest = to_topic or _header(headers, "source-topic")
                    if not dest:
                        raise DlqReplayError(
                            f"{dlq_topic} partition {p} offset {offset} has no source-topic header; "
                            f"replay it with --to TOPIC")
                    if producer is not None:
                        if dest not in known_topics:
                            _require_topic(producer, dest, p, offset, dlq_topic, timeout)
                            known_topics.add(dest)
                        producer.produce(dest, msg.value(), msg.key(),
                                         headers=[(REPLAYED_FROM, f"{dlq_topic}:{p}:{offset}".encode())])
                        producer.poll(0)
                    result.replayed[(why, dest)] += 1
                positions[p] = offset + 1
                in_chunk += 1
                if offset + 1 >= pending[p][1]:
                    pending.pop(p)
                if in_chunk >= chunk and producer is not None:
                    _commit_chunk(producer, consumer, dlq_topic, positions, timeout)
                    producer.begin_transaction()
                    if on_progress:
                        on_progress(in_chunk)
                    in_chunk = 0
            _drop_finished(consumer, dlq_topic, pending, positions)
        if producer is not None:
            _commit_chunk(producer, consumer, dlq_topic, positions, timeout)
        if on_progress and in_chunk:
            on_progress(in_chunk)
        return result
    except BaseException:
        if producer is not None:
            try:
                producer.abort_transaction(timeout)
            except KafkaException:
                pass  # nothing open, or the broker is gone: the next run fences it anyway
        raise
    finally:
        consumer.close()


def _drop_finished(consumer: Consumer, topic: str, pending: dict[int, tuple[int, int]],
                   positions: dict[int, int]) -> None:
    # A transaction marker can be a partition's last offset and is never delivered:
    # the consumer's position, not the last record seen, says a partition is done.
    # Done means done up to the snapshot's end, not up to the position: records that arrived after the
    # snapshot may already be fetched (and skipped), and committing past them would lose them for good.
    for tp in consumer.position([TopicPartition(topic, p) for p in pending]):
        end = pending[tp.partition][1]
        if tp.offset >= end:
            positions[tp.partition] = max(positions.get(tp.partition, 0), end)
            pending.pop(tp.partition)


def _due_for_reason(ledger: ReplayLedger, settings: Settings, dlq_topic: str, partitions: list[int],
                    partition: int, offset: int, reason: str, timeout: float) -> bool:
    if reason not in ledger.by_reason:
        ledger.by_reason[reason] = committed_offsets(settings, replay_group(settings, dlq_topic, reason), dlq_topic,
                                              partitions, timeout)
    return ledger.due(partition, offset, reason)


def fence_replay(settings: Settings, dlq_topic: str, timeout: float = 30.0) -> None:
    """Abort whatever a killed run of a replay of ``dlq_topic`` (any reason) left open, so offsets can be read."""
    _transactional_producer(settings, dlq_topic, timeout).flush(timeout)


def _transactional_producer(settings: Settings, dlq_topic: str, timeout: float) -> Producer:
    # One transactional id per dead-letter topic, whatever the reason: any run fences (and so aborts)
    # whatever another run of that topic left open — a killed one, or one still going, so a plain replay
    # and a --reason replay cannot both publish the same records (per reason group, they did).
    key = replay_group(settings, dlq_topic, None)
    tx_id = f"forewarn-dlq-replay-{hashlib.sha256(key.encode()).hexdigest()[:24]}"
    producer = Producer(settings.confluent_config(**{
        "transactional.id": tx_id, "enable.idempotence": True, "acks": "all",
        "linger.ms": 20, "compression.type": "lz4", "log_level": 3,
    }))
    try:
        producer.init_transactions(timeout)
    except KafkaException as exc:
        raise DlqReplayError(f"cannot start a Kafka transaction for the replay: {exc.args[0].str()}") from None
    return producer


def _require_topic(producer: Producer, topic: str, partition: int, offset: int, dlq_topic: str,
                   timeout: float) -> None:
    meta = producer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        raise DlqReplayError(f"topic {topic!r} (source of {dlq_topic} partition {partition} offset {offset}) "
                             f"does not exist; create it or pass --to TOPIC")


def _commit_chunk(producer: Producer, consumer: Consumer, dlq_topic: str, positions: dict[int, int],
                  timeout: float) -> None:
    """Commit the produced records and the DLQ offsets behind them atomically."""
    try:
        producer.send_offsets_to_transaction(
            [TopicPartition(dlq_topic, p, o) for p, o in sorted(positions.items())],
            consumer.consumer_group_metadata(), timeout)
        producer.commit_transaction(timeout)
    except KafkaException as exc:
        raise DlqReplayError(f"the replay's transaction failed and was not committed: {exc.args[0].str()}") from None
