"""``forewarn outcomes``: the live outcome worker — success within the window, per decision, kept in Redis.

It consumes ``usage-events`` and ``intervention-decisions`` (group ``<app id>-outcomes``, range
assignment, so partition ``p`` of both topics — both keyed by account, same partition count — goes
to the same member) and runs :class:`~interventions.measurement.outcomes.OutcomeTracker` on the
state of the accounts each chunk touches, loaded from Redis (:mod:`streams.stores.outcome_redis`).

Per poll batch and partition ``p`` (:meth:`OutcomeWorker.handle_partition`):

1. read the partition record (applied offsets of both topics, watermark, counts); records at or
   below the applied offsets are redeliveries and change nothing;
2. parse the events (invalid ones are counted: the detect worker dead-letters them) and decisions;
   the new watermark is the largest ``occurred_at`` of the valid events minus the allowed lateness
   (never moving back);
3. load the accounts of the decisions, of the events that meet a success metric, and those whose
   wake-up time the new watermark reaches (a window or held success due, or all they remember over:
   "State lifetime" below); decide, observe, advance;
4. count closed windows only: a failure when its window closes, a success when the watermark passes
   its window's end — an earlier success is *held* in the account's state until then (counting early
   successes but not the failures still to come would bias the ratio up);
5. write the accounts, their wake-up times, the counts and both applied offsets in one Lua script
   that compares the record read (:class:`~streams.stores.detector_redis.StaleOwner` if another
   owner wrote in between: the chunk is worked out again on that state, ``redo_when_stale``).

Redis, not Kafka, holds the positions: on assignment every partition is sought to its applied
offset + 1. Offsets are committed to Kafka too, after each stored batch, for lag monitoring only.
After each batch the records of all partitions are read and the gauges set to the global counts, so
every worker exports the same figures.

Lookback
--------
The policy decides a firing once its partition's watermark passes the end of the firing's decision
window, so a decision reaches this worker when event time is up to *allowed lateness + decision
window* past its ``decided_at`` — and the events that judge it (at or after ``decided_at``) have
already been observed. The tracker remembers success events for ``lookback_us`` =
allowed lateness + decision window + :data:`LOOKBACK_MARGIN_US` (one hour: the detector and policy
may trail this worker by that much event time — a restart, a slow partition). Decisions already in
Kafka never trail: while a partition's decisions have a backlog, its events are paused (decisions
running ahead of events are harmless: their windows just wait for the events).

State lifetime
--------------
An account's state is kept as long as *event* time needs it, whatever the wall clock does: its wake-up
time (the ``wakes`` sorted set) is its first window or held success due, else the watermark at which
every success it remembers is older than the lookback and every claim has expired
(:meth:`~streams.stores.outcome_redis.AccountOutcome.wake`); the chunk whose watermark reaches it loads
the account, forgets what is over and deletes it once nothing is left. So an outage of the worker (or of
the whole pipeline) changes nothing: after it, a decision that trails its success still finds it.
The keys' wall-clock TTL is only a safety net for state no worker will load again (a partition whose
watermark never moves again, a namespace nobody runs any more): the longest success window + twice the
lookback (the most event time between an account's last write and its deletion) + :data:`OUTAGE_MARGIN_US`
(60 days), so an outage of up to two months loses nothing. It costs no memory in normal operation: an
account that goes silent is deleted by event time as soon as its partition's watermark (moved by other
accounts' events, or the idle advance) passes its wake-up time.

Idle partitions
---------------
With ``idle_advance`` on (the detect worker's setting, the same semantics: DESIGN.md's event time), a
partition that has applied no usage event for ``idle_advance_after_s`` moves its watermark by the
wall-clock time since its last event (:meth:`OutcomeWorker.advance_idle`, on a timer in the loop), so
windows on a silent partition close and are counted without waiting for the next event. The rule:

* the target is the watermark after the partition's last applied event plus the wall-clock time since
  this worker applied it (since its assignment after a restart or rebalance: the clock starts again);
  never backwards, and never past the detect worker's stored watermark of the same partition
  (``det:<usage-events topic>``; none stored: no advance). An event later than that is late for the
  detect worker too, and a decision cannot trail the watermark by more than the lookback assumes: the
  policy decides on the detect worker's watermark;
* only when the partition is caught up on *both* topics: the log end offsets, asked of the broker just
  before, are reached by the applied offsets stored in Redis (or by the consumer's position, which also
  steps over a transaction's commit marker). An event or a decision still in Kafka is read first: no
  window closes before a record that could settle it, and the events-behind-decisions gate (a paused
  partition is never advanced) still holds;
* the advance closes windows and counts them exactly as a chunk does: the new watermark, the closed
  windows' counts and the accounts are written by the same compare-and-set script, offsets unchanged.
  A crash before the write changes nothing; after it, the windows are gone from the accounts and
  counted once; a redelivered record is at or below the applied offsets and skipped. A write refused
  because another owner wrote first (:class:`~streams.stores.detector_redis.StaleOwner`) drops the
  advance: the owner's next chunk or tick works from the state it left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import orjson
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from detectors.config import ForewarnConfig
from detectors.store import NO_TIME
from interventions.measurement.decisions import (
    MEASURED_ARMS,
    DecisionRecord,
    decision_from_json,
)
from interventions.measurement.errors import HistoryError
from interventions.measurement.outcomes import OutcomeTracker
from schemas.catalogue import SuccessMetric
from schemas.event import Event, parse_event
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, US_PER_SECOND
from streams.consume import records_of
from streams.errors import StreamsError
from streams.keys import PartitionKeys
from streams.outcomes import OutcomeGauges
from streams.settings import Settings
from streams.stores.detector_redis import StaleOwner, detect_namespace
from streams.stores.outcome_redis import (
    BatchOutcomeState,
    PartitionOutcome,
    RedisOutcomeStore,
    decode_account,
    encode_account,
    encode_record,
    outcome_namespace,
)
from streams.stores.stale import redo_when_stale

__all__ = ["LOOKBACK_MARGIN_US", "OUTAGE_MARGIN_US", "POLL_TIMEOUT_S", "OutcomeChunk", "OutcomeWorker", "lookback_us"]

log = logging.getLogger("forewarn.outcomes")

#: Event time the detector and policy may trail this worker by, beyond lateness + decision window.
LOOKBACK_MARGIN_US = US_PER_HOUR
#: The outage (wall clock) the account keys' safety-net TTL allows for, beyond the event time their state
#: may need (module doc, "State lifetime"): far beyond Kafka's default 7-day retention (an outage longer
#: than the topics' retention loses unread records anyway); the worker deletes accounts itself by event time.
OUTAGE_MARGIN_US = 60 * US_PER_DAY
POLL_TIMEOUT_S = 0.5

#: A record as the worker handles it: (offset, value).
Rec = tuple[int, bytes | None]


def lookback_us(config: ForewarnConfig) -> int:
    """How long success events are remembered for decisions that arrive after them (see the module doc).

    >>> from streams.config import load_config
    >>> from streams.settings import Settings
    >>> lookback_us(load_config(Settings().config_path)) // 60_000_000   # 5m + 1h + 1h
    125
    """
    policy = config.extra.get("policy")
    window = getattr(policy, "decision_window_us", US_PER_HOUR)
    return config.engine.allowed_lateness_us + window + LOOKBACK_MARGIN_US


@dataclass
class OutcomeChunk:
    """What one partition's chunk did (tests, logs)."""

    applied_events: int = 0
    applied_decisions: int = 0
    redelivered: int = 0
    counted: int = 0
    held: int = 0
    watermark: int | None = None


class OutcomeWorker:
    """The worker; ``run(stop)`` until ``stop`` is set. ``handle_partition`` is the unit of work (tests call it)."""

    def __init__(self, settings: Settings, config: ForewarnConfig, registry: CollectorRegistry | None = None,
                 client=None):
        self.settings = settings
        self.topics = settings.topics
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics: dict[str, SuccessMetric] = {name: config.success_metric(name) for name in config.triggers}
        self.lateness_us = config.engine.allowed_lateness_us
        self.lookback_us = lookback_us(config)
        longest = max((m.within_us for m in self.metrics.values()), default=0)
        # The safety-net TTL of account keys (module doc, "State lifetime"): the worker deletes them by event
        # time, at most a success window + twice the lookback after their last write, unless it is down.
        ttl_ms = (longest + 2 * self.lookback_us + OUTAGE_MARGIN_US) // 1000
        self.client = client or redis.from_url(settings.redis_url.get_secret_value(), **settings.redis_kwargs())
        self.store = RedisOutcomeStore(self.client, outcome_namespace(self.topics.usage_events), ttl_ms)
        self._types = frozenset(spec.type for m in self.metrics.values() for spec in m.events)
        self.gauges = OutcomeGauges(self.registry, self.metrics, tickets=False)
        r = self.registry
        self.invalid = Counter("forewarn_outcome_invalid_records",
                               "Records the outcome worker could not read or refused (events dated more than "
                               "max_event_lead_s ahead included), by topic kind (the detect worker dead-letters "
                               "such events; decisions should never be invalid).",
                               ["stream"], registry=r)
        self.redelivered = Counter("forewarn_outcome_redelivered_records",
                                   "Records at or below the applied offset stored in Redis: skipped.", registry=r)
        self.stale_retries = Counter("forewarn_outcome_stale_writes",
                                     "Outcome chunks whose write was refused because another worker wrote the "
                                     "partition first (a rebalance overlap); each is worked out again (an idle "
                                     "advance is dropped instead: the next tick starts from that state).",
                                     registry=r)
        self.position = Gauge("forewarn_outcome_position_offset",
                              "Offset of the last record the outcome worker applied, by stream and partition.",
                              ["stream", "partition"], registry=r)
        self.watermark = Gauge("forewarn_outcome_watermark_seconds",
                               "Event-time watermark of the outcome worker (Unix seconds), by partition.",
                               ["partition"], registry=r)
        self.held_back = Gauge("forewarn_outcome_events_held_back",
                               "1 while a partition's usage events are paused because its decisions have a "
                               "backlog (events must not run ahead of decisions already written).",
                               ["partition"], registry=r)
        self.consumer: Consumer | None = None
        #: The topics' partition count (the settings' until ``run`` reads it from the cluster).
        self.partitions = settings.topics.partitions
        self._assigned: set[int] = set()
        self._paused: set[int] = set()
        self._next_dec: dict[int, int] = {}
        #: Namespace of the detect worker's partition records (streams.app), whose watermark caps the idle advance.
        self.detect_namespace = detect_namespace(self.topics.usage_events)
        #: partition -> (wall-clock seconds, watermark µs) when it last applied a usage event or was assigned.
        self.progress: dict[int, tuple[float, int | None]] = {}

    # -- one partition's chunk ---------------------------------------------------------------

    def handle_partition(self, partition: int, events: Sequence[Rec], decisions: Sequence[Rec]) -> OutcomeChunk:
        """Apply one partition's records of both topics (in offset order); one atomic Redis write."""
        return redo_when_stale(lambda: self._handle_once(partition, events, decisions),
                               refused=self.stale_retries, where=f"outcome partition {partition}")

    def _handle_once(self, partition: int, events: Sequence[Rec], decisions: Sequence[Rec]) -> OutcomeChunk:
        store = self.store
        expected, rec = store.read_record(partition)
        chunk = OutcomeChunk(watermark=rec.wm)
        new_events = [r for r in events if r[0] > rec.ev]
        new_decisions = [r for r in decisions if r[0] > rec.dec]
        chunk.redelivered = len(events) - len(new_events) + len(decisions) - len(new_decisions)
        if chunk.redelivered:
            self.redelivered.inc(chunk.redelivered)
        if not new_events and not new_decisions:
            return chunk

        parsed: list[Event] = []
        invalid_events = 0
        horizon = self.settings.latest_event_us()  # the detect worker dead-letters later ones as "future"
        for _, value in new_events:
            ev = parse_event(value)
            if isinstance(ev, Event) and (horizon is None or ev.ts <= horizon):
                parsed.append(ev)
            else:
                invalid_events += 1
        records: list[DecisionRecord] = []
        invalid_decisions = 0
        for _, value in new_decisions:
            try:
                records.append(decision_from_json(orjson.loads(value or b"")))
            except (orjson.JSONDecodeError, HistoryError):
                invalid_decisions += 1

        max_ts = max([e.ts for e in parsed] + ([rec.max_ts] if rec.max_ts is not None else []), default=None)
        wm = rec.wm
        if max_ts is not None:
            candidate = max_ts - self.lateness_us
            wm = candidate if wm is None else max(wm, candidate)
        self._apply(partition, expected, rec, chunk, wm, max_ts, parsed, records, new_events, new_decisions)
        if invalid_events:
            self.invalid.labels(stream="events").inc(invalid_events)
        if invalid_decisions:
            self.invalid.labels(stream="decisions").inc(invalid_decisions)
        if new_events:
            self.progress[partition] = (time.time(), wm)
        return chunk

    def _apply(self, partition: int, expected: bytes, rec: PartitionOutcome, chunk: OutcomeChunk, wm: int | None,
               max_ts: int | None, parsed: Sequence[Event], records: Sequence[DecisionRecord],
               new_events: Sequence[Rec], new_decisions: Sequence[Rec]) -> None:
        """Decide, observe and advance to ``wm`` on the accounts this can touch; count the closed windows;
        store it all with both offsets in one compare-and-set write (StaleOwner if the record changed)."""
        store = self.store
        # Load every account this chunk can touch: decisions', success events', and those due by wm.
        touched = {d.account_id for d in records if d.measured}
        touched |= {e.account_id for e in parsed if e.type in self._types}
        if wm is not None:
            touched |= set(store.due_accounts(partition, wm))
        blobs = store.read_accounts(partition, touched)
        accounts = {a: decode_account(a, b) for a, b in blobs.items()}
        if rec.wm is not None:
            for st in accounts.values():  # what the previous chunk's expire() forgot
                st.prune(rec.wm - self.lookback_us)
        before = {a: encode_account(st) for a, st in accounts.items()}

        state = BatchOutcomeState(accounts, {d.firing_id: d.account_id for d in records})
        tracker = OutcomeTracker(self.metrics, state, self.lookback_us)
        outcomes = []
        for d in records:
            outcomes.extend(tracker.decide(d))
        for e in parsed:
            outcomes.extend(tracker.observe(e))
        if wm is not None:
            outcomes.extend(tracker.advance(wm))

        new = PartitionOutcome(ev=max([rec.ev] + [o for o, _ in new_events]),
                               dec=max([rec.dec] + [o for o, _ in new_decisions]),
                               max_ts=max_ts, wm=wm, n=rec.n + 1,
                               counts={t: {a: list(c) for a, c in arms.items()} for t, arms in rec.counts.items()})
        for o in outcomes:
            d = o.decision
            if d.arm not in MEASURED_ARMS or o.success is None:
                continue
            if o.success and (wm is None or o.window_end > wm):
                state.account(d.account_id).held.append((d.trigger, d.arm, o.window_end))
                chunk.held += 1
            else:
                new.count(d.trigger, d.arm, bool(o.success))
                chunk.counted += 1
        if wm is not None:
            for st in accounts.values():
                if any(end <= wm for _, _, end in st.held):
                    for trigger, arm, end in st.held:
                        if end <= wm:
                            new.count(trigger, arm, True)
                            chunk.counted += 1
                    st.held = [h for h in st.held if h[2] > wm]

        puts: dict[str, bytes] = {}
        deletes: list[str] = []
        wakes: dict[str, int] = {}
        unwakes: list[str] = []
        for a in touched | accounts.keys():
            st = accounts.get(a)
            if st is None or st.is_blank():
                if a in blobs:
                    deletes.append(a)
                unwakes.append(a)
                continue
            blob = encode_account(st)
            if blob != before.get(a):
                puts[a] = blob
            wakes[a] = st.wake(self.lookback_us)  # not blank: a window, a held success or what it remembers
        store.commit(partition, expected, encode_record(new), puts, deletes, wakes, unwakes)

        if new_events:
            self.position.labels(stream="events", partition=str(partition)).set(new.ev)
        if new_decisions:
            self.position.labels(stream="decisions", partition=str(partition)).set(new.dec)
        if wm is not None:
            self.watermark.labels(partition=str(partition)).set(wm / 1e6)
        chunk.applied_events, chunk.applied_decisions, chunk.watermark = len(new_events), len(new_decisions), wm

    # -- an idle partition ------------------------------------------------------------------------

    def advance_idle(self, partition: int, ends: tuple[int, int], read: tuple[int, int] = (-1, -1),
                     now: float | None = None, detect_wm: int | None = None) -> OutcomeChunk | None:
        """Advance an idle partition's watermark by the wall-clock time since its last event (module doc).

        ``ends`` are the log end offsets of the partition's (events, decisions), asked of the broker before
        the call; ``read`` the consumer's positions on them (next offset to read). ``detect_wm`` is the
        detect worker's watermark, read *before* the ends were asked (None: read now): an event appended
        after the ends were asked then reached the detect worker after that watermark, so the cap keeps
        the event acceptable here whatever the detect worker's own idle advance did since. Returns what the advance
        did, or None when it did not move the watermark: the advance is off, the partition not idle long
        enough or not caught up on both topics, the detect worker's watermark not ahead, or another owner
        wrote the partition first.
        """
        if not self.settings.idle_advance:
            return None
        try:
            return self._advance_idle_once(partition, ends, read, time.time() if now is None else now,
                                           self.detect_watermark(partition) if detect_wm is None else detect_wm)
        except StaleOwner as exc:
            self.stale_retries.inc()
            log.warning("outcome partition %d: idle advance refused: %s", partition, exc)
            return None

    def _advance_idle_once(self, partition: int, ends: tuple[int, int], read: tuple[int, int],
                           now: float, detect_wm: int) -> OutcomeChunk | None:
        expected, rec = self.store.read_record(partition)
        if partition not in self.progress:
            self.progress[partition] = (now, rec.wm)
            return None
        wall, last_wm = self.progress[partition]
        if now - wall < self.settings.idle_advance_after_s or last_wm is None or rec.wm is None:
            return None
        if ends[0] > max(rec.ev + 1, read[0]) or ends[1] > max(rec.dec + 1, read[1]):
            return None  # a record still in Kafka is read first
        target = min(last_wm + int((now - wall) * US_PER_SECOND), detect_wm)
        if target <= rec.wm:
            return None
        chunk = OutcomeChunk(watermark=rec.wm)
        self._apply(partition, expected, rec, chunk, target, rec.max_ts, (), (), (), ())
        log.debug("outcome partition %d idle: watermark advanced to %d, %d windows counted", partition, target,
                  chunk.counted)
        return chunk

    def detect_watermark(self, partition: int) -> int:
        """The detect worker's stored watermark of ``partition`` (NO_TIME when it stored none)."""
        value = self.client.hget(PartitionKeys(self.detect_namespace, partition).record, "watermark")
        return NO_TIME if value is None else int(value)

    def _advance_idle_partitions(self, consumer: Consumer) -> None:
        """The loop's idle tick: every assigned partition whose events are not paused and that has been idle
        long enough gets its log ends and positions asked, then :meth:`advance_idle`. A broker that does not
        answer ends the tick (one 5 s wait, not one per partition: the loop must keep consuming)."""
        now = time.time()
        moved = False
        for p in sorted(self._assigned - self._paused):
            last = self.progress.get(p)
            if last is not None and (now - last[0] < self.settings.idle_advance_after_s or last[1] is None):
                continue  # not idle, or no event yet: nothing to advance, no broker round trip
            detect_wm = self.detect_watermark(p)  # before the ends: see advance_idle
            ends, read = [], []
            for topic in (self.topics.usage_events, self.topics.intervention_decisions):
                tp = TopicPartition(topic, p)
                try:
                    _, high = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
                    position = consumer.position([tp])[0].offset
                except Exception:  # noqa: BLE001 - unknown: no advance this tick
                    high = -1
                if high < 0:
                    break
                ends.append(high)
                read.append(position)
            else:
                moved |= self.advance_idle(p, (ends[0], ends[1]), (read[0], read[1]), now, detect_wm) is not None
                continue
            break  # the broker did not answer: try again next tick
        if moved:
            self.refresh_gauges()

    # -- the figures ---------------------------------------------------------------------------

    def global_counts(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(trigger, arm) → (closed, successes), summed over every partition's record."""
        total: dict[tuple[str, str], list[int]] = {}
        for rec in self.store.read_records(range(self.partitions)).values():
            for trigger, arms in rec.counts.items():
                for arm, (closed, successes) in arms.items():
                    t = total.setdefault((trigger, arm), [0, 0])
                    t[0] += closed
                    t[1] += successes
        return {k: (v[0], v[1]) for k, v in total.items()}

    def refresh_gauges(self) -> None:
        self.gauges.set_counts(self.global_counts())

    # -- the loop --------------------------------------------------------------------------------

    def _make_consumer(self) -> Consumer:
        return Consumer(self.settings.confluent_config(**{
            "group.id": f"{self.settings.app_id}-outcomes",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
            "fetch.max.bytes": self.settings.consumer_max_fetch_size,
            "log_level": 3,
        }))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Seek every assigned partition to the offset after the one stored as applied in Redis."""
        records = self.store.read_records({tp.partition for tp in partitions})
        for tp in partitions:
            rec = records.get(tp.partition, PartitionOutcome())
            applied = rec.ev if tp.topic == self.topics.usage_events else rec.dec
            tp.offset = applied + 1 if applied >= 0 else OFFSET_BEGINNING
        consumer.assign(partitions)
        by_topic: dict[str, set[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, set()).add(tp.partition)
        ev, dec = by_topic.get(self.topics.usage_events, set()), by_topic.get(self.topics.intervention_decisions, set())
        if ev != dec:
            log.warning("partitions of %s and %s assigned to this worker differ (%s vs %s): both topics need the "
                        "same partition count and range assignment", self.topics.usage_events,
                        self.topics.intervention_decisions, sorted(ev), sorted(dec))
        self._assigned = ev
        self._paused = set()
        self._next_dec = {}
        # The idle clock starts again at assignment (as the detect worker's): no time before it is counted.
        now = time.time()
        self.progress = {p: (now, records.get(p, PartitionOutcome()).wm) for p in ev}
        for tp in partitions:
            if tp.topic == self.topics.intervention_decisions:
                # Where the decisions will really start: the stored position, or the log's start if
                # retention removed it (else the gate would wait for records that no longer exist).
                try:
                    low, _ = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
                except Exception:  # noqa: BLE001 - unknown: counted from the stored position
                    low = 0
                self._next_dec[tp.partition] = max(low, tp.offset, 0)
        log.info("outcome worker assigned partitions %s", sorted(ev | dec))
        self._gate(consumer, fresh=True)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("outcome worker revoked partitions %s", sorted({tp.partition for tp in partitions}))
        for p in self._assigned:
            self.held_back.labels(partition=str(p)).set(0)
        self._assigned = set()
        self._paused = set()
        self.progress = {}

    def _gate(self, consumer: Consumer, fresh: bool = False) -> None:
        """Pause a partition's events while its decisions have a backlog, so events never run ahead of
        decisions already written (see the module doc); resume when the decisions caught up."""
        dec_topic = self.topics.intervention_decisions
        pause, resume = [], []
        for p in sorted(self._assigned):
            tp = TopicPartition(dec_topic, p)
            try:
                _, high = consumer.get_watermark_offsets(tp, timeout=10, cached=not fresh)
            except Exception:  # noqa: BLE001 - unknown, like a negative answer below
                high = -1
            if high < 0:
                # Not known yet (librdkafka answers -1001 until the partition's first fetch): never resume on a
                # guess — events let through before the decisions would forget every success. At assignment,
                # pause until the end is known.
                if not fresh:
                    continue
                backlog = True
            else:
                backlog = high > self._next_dec.get(p, 0)
            ev_tp = TopicPartition(self.topics.usage_events, p)
            self.held_back.labels(partition=str(p)).set(1 if backlog else 0)
            if backlog and p not in self._paused:
                pause.append(ev_tp)
                self._paused.add(p)
            elif not backlog and p in self._paused:
                resume.append(ev_tp)
                self._paused.discard(p)
        if pause:
            consumer.pause(pause)
        if resume:
            consumer.resume(resume)

    def process_batch(self, msgs: Iterable) -> dict[int, OutcomeChunk]:
        """Apply one poll batch: per partition, its events and decisions; then commit to Kafka, set the gauges."""
        events: dict[int, list[Rec]] = {}
        decisions: dict[int, list[Rec]] = {}
        offsets: dict[tuple[str, int], int] = {}
        for m in msgs:
            topic, p, off = m.topic(), m.partition(), m.offset()
            (events if topic == self.topics.usage_events else decisions).setdefault(p, []).append((off, m.value()))
            offsets[(topic, p)] = max(offsets.get((topic, p), -1), off)
        done = {}
        for p in sorted(events.keys() | decisions.keys()):
            done[p] = self.handle_partition(p, events.get(p, []), decisions.get(p, []))
            if p in decisions:
                self._next_dec[p] = max(self._next_dec.get(p, 0), decisions[p][-1][0] + 1)
        if self.consumer is not None and offsets:
            self.consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()],
                                 asynchronous=True)
        self.refresh_gauges()
        return done

    def _check_topics(self, consumer: Consumer) -> int:
        """The partition count both topics share; StreamsError (one line) when a topic is missing or they differ.

        An account's events and decisions must land on the same partition number, or its decisions never
        see its successes and two owners fight over one record.
        """
        names = (self.topics.usage_events, self.topics.intervention_decisions)
        meta = consumer.list_topics(timeout=10).topics
        counts = {}
        for name in names:
            topic = meta.get(name)
            if topic is None or topic.error is not None or not topic.partitions:
                raise StreamsError(f"topic {name!r} does not exist on the cluster; create it with "
                                   "'forewarn topics create'")
            counts[name] = len(topic.partitions)
        if len(set(counts.values())) != 1:
            raise StreamsError(f"{names[0]!r} has {counts[names[0]]} partitions and {names[1]!r} {counts[names[1]]}: "
                               "the outcome worker needs both keyed alike, with the same partition count")
        return counts[names[0]]

    def run(self, stop: threading.Event, beat: Callable[[], None] = lambda: None) -> None:
        """Consume until ``stop`` is set, calling ``beat()`` once per turn of the loop (its liveness)."""
        self.consumer = consumer = self._make_consumer()
        try:
            self.partitions = self._check_topics(consumer)
        except BaseException:
            consumer.close()
            self.consumer = None
            raise
        consumer.subscribe([self.topics.usage_events, self.topics.intervention_decisions],
                           on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("outcome worker consuming %s and %s in group %s-outcomes", self.topics.usage_events,
                 self.topics.intervention_decisions, self.settings.app_id)
        idle_every = max(0.5, min(5.0, self.settings.idle_advance_after_s / 4))  # the detect worker's timer
        next_idle = time.monotonic() + idle_every
        try:
            self.refresh_gauges()
            while not stop.is_set():
                beat()
                records = records_of(consumer.consume(self.settings.max_poll_records, timeout=POLL_TIMEOUT_S))
                if records:
                    self.process_batch(records)
                if self._assigned:
                    self._gate(consumer)
                    if self.settings.idle_advance and time.monotonic() >= next_idle:
                        next_idle = time.monotonic() + idle_every
                        self._advance_idle_partitions(consumer)
        finally:
            consumer.close()
            self.consumer = None
