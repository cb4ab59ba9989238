"""The detect worker: one partition's chunk → parse → engine → Redis (one script) → Kafka.

Thin by design: the engine (``detectors.Engine``) decides; this module moves
bytes. Per chunk, on a worker thread (the engine is CPU work and the Redis
client is blocking):

1. publish whatever a previous owner left in the partition's outbox;
2. parse every record; the engine loads (2 round trips), computes in memory
   and hands over its changes;
3. one Lua script stores the changes, the applied offset and the outbox
   (dead letters for malformed and late events, firings) together;
   when the config has ``usage_drop`` triggers, their drop-off models
   (``streams.agents.dropoff``) take the chunk first and store their own
   state, applied offset and firings in a script of their own;
4. the outbox is published with an idempotent producer and trimmed once acked.

A redelivered chunk finds its offsets applied and changes nothing; its outbox
entries were already written with the state that produced them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson
from confluent_kafka import Producer

from detectors.engine import ChunkResult, Engine
from detectors.state import AccountState
from detectors.store import NO_TIME, Changes, Loaded, Store
from schemas.event import Event, EventError, parse_event
from schemas.timefmt import US_PER_SECOND
from streams.agents.detect_metrics import DetectMetrics
from streams.agents.dropoff import DropOffRuntime
from streams.agents.dead_letter import dlq_headers
from streams.outbox import WATERMARK_HEADER, Appended, OutboxPublisher, OutboxRecord
from streams.settings import Settings
from streams.stores.detector_redis import RedisDetectorStore, StaleOwner, firing_record
from streams.stores.stale import redo_when_stale

__all__ = ["DetectRuntime", "watermark_marker"]

log = logging.getLogger("forewarn.detect")


def watermark_marker(partition: int, watermark: int) -> OutboxRecord:
    """A record on the firings topic's same-numbered partition carrying this partition's watermark.

    Every firing at or before the watermark was published before the marker, so a
    consumer (the policy) can decide what it holds up to it without waiting for
    more firings. Partition counts of usage-events and trigger-firings are equal.
    """
    return OutboxRecord("firings", None, orjson.dumps({"watermark": watermark}),
                        ((WATERMARK_HEADER, b"1"),), partition)


class _Staged(Store):
    """Passes reads through and keeps the engine's one write, so the runtime can add its outbox to it."""

    def __init__(self, store: RedisDetectorStore, metrics: DetectMetrics):
        self.store = store
        self.metrics = metrics
        self.changes: Changes | None = None
        self.applied_before = -1

    def load(self, partition: int, account_ids) -> Loaded:
        start = time.perf_counter()
        loaded = self.store.load(partition, account_ids)
        self.metrics.redis_seconds.labels(op="load").observe(time.perf_counter() - start)
        self.applied_before = loaded.record.applied_offset
        return loaded

    def load_due(self, partition: int, upto: int, skip) -> dict[str, AccountState]:
        start = time.perf_counter()
        due = self.store.load_due(partition, upto, skip)
        self.metrics.redis_seconds.labels(op="load_due").observe(time.perf_counter() - start)
        return due

    def apply(self, partition: int, changes: Changes) -> None:
        self.changes = changes


class DetectRuntime:
    """Runs the engine for the partitions this worker owns; every method is for one partition at a time."""

    def __init__(self, settings: Settings, engine: Engine, store: RedisDetectorStore, metrics: DetectMetrics,
                 producer: Producer | None = None, dropoff: DropOffRuntime | None = None):
        self.settings = settings
        self.engine = engine
        #: The config's usage_drop triggers (None when it has none: the rule path runs alone).
        self.dropoff = dropoff
        self.store = store
        self.metrics = metrics
        self.topics = {"firings": settings.topics.trigger_firings, "dlq": settings.topics.usage_events_dlq}
        self.source = settings.topics.usage_events
        self.producer = producer or Producer(settings.confluent_config(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": "lz4",
            "log_level": 3,
        }))
        self.publisher = OutboxPublisher(self.producer, self.topics, self._on_published)
        self._locks: dict[int, threading.Lock] = {}
        self._outbox_checked: set[int] = set()
        #: partition -> (wall-clock seconds, watermark µs) when it last saw an event or was assigned
        self.progress: dict[int, tuple[float, int]] = {}

    def lock(self, partition: int) -> threading.Lock:
        return self._locks.setdefault(partition, threading.Lock())

    # -- partition lifecycle ------------------------------------------------------------

    def assigned(self, partition: int) -> None:
        self._outbox_checked.discard(partition)
        self.progress.pop(partition, None)
        if self.dropoff is not None:
            self.dropoff.assigned(partition)

    def revoked(self, partition: int) -> None:
        self._outbox_checked.discard(partition)
        self.progress.pop(partition, None)
        if self.dropoff is not None:
            self.dropoff.revoked(partition)
        try:  # a partition this worker no longer owns has no delay of its own
            self.metrics.watermark_delay.remove(str(partition))
        except KeyError:
            pass

    # -- the chunk handler ----------------------------------------------------------------

    def handle_chunk(self, partition: int, records: Sequence[Any]) -> ChunkResult:
        """Process one chunk of ``usage-events`` records of ``partition`` (blocking; call on a thread).

        If another worker applied to the partition between this chunk's load and its write
        (two owners overlapping during a rebalance: the write is refused as a whole), the chunk
        is worked out again on the state as the other left it: what it applied is skipped,
        the rest applied once. Only if that keeps happening does the chunk fail.
        """
        start = time.perf_counter()
        result = redo_when_stale(lambda: self._handle_chunk_once(partition, records),
                                 refused=self.metrics.stale_retries, where=f"partition {partition}")
        self.metrics.chunk_events.observe(len(records))
        self.metrics.chunk_seconds.observe(time.perf_counter() - start)
        return result

    def _handle_chunk_once(self, partition: int, records: Sequence[Any]) -> ChunkResult:
        with self.lock(partition):
            self._drain_outbox(partition)
            events: list[Event] = []
            offsets: list[int] = []
            source_of: dict[int, Any] = {}
            invalid: list[tuple[Any, EventError]] = []
            horizon = self.settings.latest_event_us()
            for rec in records:
                parsed = parse_event(rec.value)
                if isinstance(parsed, EventError):
                    invalid.append((rec, parsed))
                elif horizon is not None and parsed.ts > horizon:
                    invalid.append((rec, EventError("future", f"occurred_at is more than "
                                                              f"{self.settings.max_event_lead_s:g} s ahead of the "
                                                              "worker's clock (max_event_lead_s)")))
                else:
                    events.append(parsed)
                    offsets.append(rec.offset)
                    source_of[id(parsed)] = rec
            if self.dropoff is not None:
                # Before the rules: its firings enter the outbox ahead of the rules' watermark marker.
                self.dropoff.process(partition, events, offsets, records[-1].offset)
            staged = _Staged(self.store, self.metrics)
            result = self.engine.process_chunk(partition, events, staged, offsets=offsets,
                                               last_offset=records[-1].offset)
            before = staged.applied_before
            outbox: list[OutboxRecord] = []
            ingest = self.metrics.ingest
            fresh = sum(1 for r in records if r.offset > before)
            refused = [(rec, err.reason, err.detail) for rec, err in invalid if rec.offset > before]
            refused += [(source_of[id(ev)], "late", "occurred_at is below the partition's watermark")
                        for ev in result.late]
            outbox += [self._dead_letter(partition, rec, reason, detail) for rec, reason, detail in refused]
            outbox += [firing_record(f) for f in result.firings]
            outbox.append(watermark_marker(partition, result.watermark))
            appended = self._apply(partition, staged.changes, outbox)
            for _rec, reason, _detail in refused:  # counted once stored: a refused write is retried
                ingest.invalid.labels(reason=reason).inc()
            ingest.valid.inc(result.accepted)
            self.metrics.duplicates.inc(result.duplicates)
            self.metrics.replayed.inc(len(records) - fresh)
            # consumed last: a scrape that sees it never misses the other counts of the same events
            ingest.consumed.inc(fresh)
            self._publish_outbox(partition, appended)
            self.progress[partition] = (time.time(), result.watermark)
            self._observe_watermark(partition, result.watermark, time.time())
        return result

    def advance_idle(self, partition: int, now: float | None = None) -> ChunkResult | None:
        """Advance an idle partition's watermark by the wall-clock time since its last event.

        Returns None when the partition is not idle long enough (or the idle advance is off).
        """
        if not self.settings.idle_advance:
            return None
        try:
            return self._advance_idle_once(partition, time.time() if now is None else now)
        except StaleOwner as exc:
            # Another worker wrote the partition since we read it (two owners for a moment in a rebalance):
            # this advance is dropped; the owner's next chunk or advance works from the state it left.
            self.metrics.stale_retries.inc()
            log.warning("partition %d: idle advance refused: %s", partition, exc)
            return None

    def _advance_idle_once(self, partition: int, now: float) -> ChunkResult | None:
        idle_after = self.settings.idle_advance_after_s
        with self.lock(partition):
            self._drain_outbox(partition)
            if partition not in self.progress:
                self.progress[partition] = (now, self.store.record(partition).watermark)
                return None
            wall, watermark = self.progress[partition]
            if now - wall < idle_after or watermark <= NO_TIME:
                return None
            target = watermark + int((now - wall) * US_PER_SECOND)
            if self.dropoff is not None:
                self.dropoff.advance(partition, target - 1)  # every account scored for the days that end
            staged = _Staged(self.store, self.metrics)
            result = self.engine.advance_to(partition, target - 1, staged)
            appended = self._apply(partition, staged.changes, [firing_record(f) for f in result.firings]
                                   + [watermark_marker(partition, result.watermark)])
            self._publish_outbox(partition, appended)
            self._observe_watermark(partition, result.watermark, now)
            return result

    # -- internals ------------------------------------------------------------------------

    def _observe_watermark(self, partition: int, watermark: int, now: float) -> None:
        if watermark > NO_TIME:  # a partition without a valid event yet has no watermark to report
            self.metrics.watermark_delay.labels(partition=str(partition)).set(now - watermark / US_PER_SECOND)

    def _dead_letter(self, partition: int, rec: Any, reason: str, detail: str) -> OutboxRecord:
        headers = dlq_headers(reason, detail, self.source, partition, rec.offset)
        return OutboxRecord("dlq", rec.key, rec.value if rec.value is not None else b"", tuple(headers))

    def _apply(self, partition: int, changes: Changes | None, outbox: list[OutboxRecord]) -> Appended:
        if changes is None:
            raise RuntimeError("the engine returned without writing its changes")
        start = time.perf_counter()
        try:
            appended = self.store.apply(partition, changes, outbox)
        except StaleOwner:
            raise  # a refused write, not a Redis failure: handle_chunk counts and retries it
        except Exception:
            self.metrics.redis_errors.inc()
            raise
        self.metrics.redis_seconds.labels(op="apply").observe(time.perf_counter() - start)
        return appended

    def _drain_outbox(self, partition: int) -> None:
        if partition not in self._outbox_checked:
            self._publish_outbox(partition)
            self._outbox_checked.add(partition)

    def _publish_outbox(self, partition: int, appended: Appended | None = None) -> None:
        self.publisher.publish(self.store, partition, appended)

    def _on_published(self, rec: OutboxRecord) -> None:
        self.metrics.outbox_published.labels(role=rec.role).inc()
        if rec.role == "dlq":
            self.metrics.ingest.dead_lettered.labels(topic=self.topics["dlq"]).inc()
        elif rec.partition is None:
            self.metrics.firings.labels(trigger=orjson.loads(rec.value)["trigger"]).inc()
