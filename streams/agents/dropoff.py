"""The live ``usage_drop`` triggers: one partition's drop-off detectors, cached while owned, stored atomically.

The detect runtime hands each chunk of ``usage-events`` (already parsed, with
offsets) here before the rule engine runs, and each idle advance too. Per
partition, for every ``usage_drop`` trigger of the config, one
:class:`~detectors.online.detector.DropOffDetector` — the same class, built
from the same config, that ``forewarn backtest`` runs — so live and backtest
fire the same firings.

- **Cache**: the detectors of a partition stay in memory while the partition is
  owned; they are dropped on revoke, on assignment and after any error, and
  then reloaded from Redis.
- **Store**: every step writes, in one Lua script (``streams.stores.dropoff_redis``),
  each trigger's signed model checkpoint with the partition's applied offset,
  the accounts the step changed (every account when a day closed), the
  accounts retired, and the ``usage_drop`` firings into the partition's outbox.
  A redelivered chunk (offsets at or below the applied offset) changes nothing;
  a crash between this step and the rule engine's is repaired by the redelivery,
  whichever of the two had been applied.
- **Restore**: a checkpoint is verified (HMAC) before it is unpickled; refused
  bytes — tampered, truncated, another key, another River version, another
  model configuration, an offset that does not match — are logged with the
  reason, counted in ``forewarn_model_cold_starts_total{reason}``, and the
  trigger's model restarts cold (its stored accounts are replaced at the next step).
  So does a checkpoint *behind* the rule engine's applied offset (reason ``behind``):
  the models store before the rules on every chunk, so that only happens after a
  period in which they stored nothing (no key, or the trigger removed) — the events
  of that period never reached them and will not come again, and a model restored
  from before it would see every account silent for the whole gap.
- **Without a checkpoint key** (``FOREWARN_MODEL_CHECKPOINT_KEY`` unset) nothing is
  read or written: the models live in memory only and restart cold (counted,
  reason ``no_key``) whenever a partition is (re)assigned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from detectors.online.checkpoint import CheckpointCodec
from detectors.online.detector import AccountDrop, DropOffDetector
from detectors.online.errors import CheckpointRefused
from detectors.online.usage_drop import UsageDrop
from schemas.event import Event
from schemas.firing import Firing, firing_sort_key
from streams.outbox import OutboxRecord
from streams.stores.detector_redis import firing_record
from streams.stores.dropoff_redis import RedisDropOffStore, TriggerWrite

__all__ = ["DropOffRuntime", "DropOffMetrics"]

log = logging.getLogger("forewarn.dropoff")

_BYTES = (256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216)
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class DropOffMetrics:
    """Scores, cold starts and checkpoint cost of the live drop-off models (labels: trigger, partition, reason).

    >>> m = DropOffMetrics(CollectorRegistry(), ["usage_drop"])
    >>> m.cold_starts.labels(reason="integrity").inc(); m.cold_starts.labels(reason="integrity")._value.get()
    1.0
    """

    def __init__(self, registry: CollectorRegistry, triggers: Sequence[str]):
        self.cold_starts = Counter("forewarn_model_cold_starts", "Drop-off models that started cold instead of "
                                   "from their checkpoint, by reason.", ["reason"], registry=registry)
        self.scored = Counter("forewarn_model_scores", "Account scores by the drop-off models: one per account "
                              "per closed UTC day, silent accounts included.", ["trigger"], registry=registry)
        self.days_closed = Counter("forewarn_model_day_closes", "UTC days closed by the drop-off models, summed "
                                   "over partitions.", ["trigger"], registry=registry)
        for t in triggers:
            self.scored.labels(trigger=t)
            self.days_closed.labels(trigger=t)
        self.threshold = Gauge("forewarn_model_threshold", "The learned firing threshold of a partition's model "
                               "(NaN during its warm-up).", ["trigger", "partition"], registry=registry)
        self.checkpoint_bytes = Histogram("forewarn_model_checkpoint_bytes", "Bytes of model checkpoints and "
                                          "account states written per step.", buckets=_BYTES, registry=registry)
        self.checkpoint_seconds = Histogram("forewarn_model_checkpoint_seconds", "Time to encode, sign and store "
                                            "one step of a partition's models.", buckets=_SECONDS,
                                            registry=registry)
        self.restore_seconds = Histogram("forewarn_model_restore_seconds", "Time to load and verify a partition's "
                                         "models.", buckets=_SECONDS, registry=registry)


@dataclass(slots=True)
class _Unit:
    """The cached drop-off state of one owned partition."""

    detectors: dict[str, DropOffDetector]
    #: The applied offset Redis holds (the compare-and-set value of the next write).
    stored_offset: int
    #: Account ids stored per trigger (to know what to delete when accounts retire).
    stored_ids: dict[str, set[str]]
    #: Triggers whose stored accounts are to be replaced whole (after a cold start).
    replace: set[str] = field(default_factory=set)
    #: Account-days scored per trigger as last exported (the detectors' counts are cumulative).
    scored: dict[str, int] = field(default_factory=dict)
    #: The record's write sequence Redis holds (compared with the offset by the next write).
    stored_seq: int = 0


class DropOffRuntime:
    """The ``usage_drop`` triggers of the partitions this worker owns; one partition at a time per call."""

    def __init__(self, specs: Sequence[UsageDrop], store: RedisDropOffStore, codec: CheckpointCodec | None,
                 metrics: DropOffMetrics, *, allowed_lateness_us: int,
                 rules_applied: Callable[[int], int] | None = None):
        if not specs:
            raise ValueError("DropOffRuntime needs at least one usage_drop trigger")
        self.specs = list(specs)
        self.names = [s.name for s in self.specs]
        self.store = store
        self.codec = codec
        self.metrics = metrics
        self.allowed_lateness_us = allowed_lateness_us
        self.fingerprints = {s.name: s.fingerprint(allowed_lateness_us) for s in self.specs}
        #: partition -> the rule engine's applied offset in Redis (a checkpoint behind it is refused)
        self.rules_applied = rules_applied
        self._units: dict[int, _Unit] = {}
        if codec is None:
            log.warning("usage_drop triggers (%s) run without FOREWARN_MODEL_CHECKPOINT_KEY: their models are not "
                        "checkpointed and restart cold after every restart or rebalance; set the key to keep them",
                        ", ".join(self.names))

    # -- partition lifecycle -------------------------------------------------------------

    def assigned(self, partition: int) -> None:
        self.invalidate(partition)

    def revoked(self, partition: int) -> None:
        self.invalidate(partition)
        for t in self.names:
            try:
                self.metrics.threshold.remove(t, str(partition))
            except KeyError:
                pass

    def invalidate(self, partition: int) -> None:
        """Forget the cached models of ``partition``: the next call reloads them from Redis."""
        self._units.pop(partition, None)

    def detectors(self, partition: int) -> dict[str, DropOffDetector]:
        """The partition's detectors (loaded if not cached), by trigger name — for tests and inspection."""
        return self._unit(partition).detectors

    # -- steps -------------------------------------------------------------------------

    def process(self, partition: int, events: Sequence[Event], offsets: Sequence[int], last_offset: int) -> list[Firing]:
        """Apply a chunk (valid events in arrival order, their offsets, the chunk's last offset); store it with
        its firings in the partition's outbox; return the firings."""
        try:
            unit = self._unit(partition)
            if last_offset <= unit.stored_offset:
                return []  # a redelivered chunk: already applied, changes nothing
            before = {t: d.counts.days_closed for t, d in unit.detectors.items()}
            firings: list[Firing] = []
            for det in unit.detectors.values():
                firings += det.process(events, offsets, last_offset)
            self._store(partition, unit, before, events, firings)
            return firings
        except BaseException:
            self.invalidate(partition)
            raise

    def advance(self, partition: int, until_us: int) -> list[Firing]:
        """Declare everything at or before ``until_us`` arrived (the idle advance): days that end by then close."""
        try:
            unit = self._unit(partition)
            before = {t: d.counts.days_closed for t, d in unit.detectors.items()}
            watermarks = [d.watermark for d in unit.detectors.values()]
            firings: list[Firing] = []
            for det in unit.detectors.values():
                firings += det.advance_to(until_us)
            if watermarks == [d.watermark for d in unit.detectors.values()] and not unit.replace:
                return firings  # nothing moved
            self._store(partition, unit, before, (), firings)
            return firings
        except BaseException:
            self.invalidate(partition)
            raise

    # -- internals -----------------------------------------------------------------------

    def _store(self, partition: int, unit: _Unit, days_before: dict[str, int], events: Sequence[Event],
               firings: list[Firing]) -> None:
        for t, det in unit.detectors.items():
            closed = det.counts.days_closed - days_before[t]
            if closed:
                self.metrics.days_closed.labels(trigger=t).inc(closed)
                scored = det.counts.account_days_scored
                self.metrics.scored.labels(trigger=t).inc(scored - unit.scored.get(t, 0))
                unit.scored[t] = scored
            threshold = det.threshold.value
            self.metrics.threshold.labels(trigger=t, partition=str(partition)).set(
                float("nan") if threshold is None else threshold)
        firings.sort(key=firing_sort_key)
        if self.codec is None:  # memory only: nothing to store with the firings, which still go out
            unit.stored_offset = max(d.applied_offset for d in unit.detectors.values())
            if firings:
                self.store.append_outbox(partition, [firing_record(f) for f in firings])
            return
        start = time.perf_counter()
        writes: dict[str, TriggerWrite] = {}
        applied = unit.stored_offset
        for t, det in unit.detectors.items():
            applied = max(applied, det.applied_offset)
            ids = unit.stored_ids[t]
            accounts = det.accounts
            if t in unit.replace or det.counts.days_closed != days_before[t]:
                changed = accounts.keys()
                gone = [a for a in ids if a not in accounts]
            else:
                # no day closed: only the chunk's accounts changed (the set is built only here: with
                # big chunks a day closes in almost every chunk)
                changed = [a for a in {ev.account_id for ev in events} if a in accounts]
                gone = []
            put = {a: orjson.dumps(accounts[a].encode()) for a in changed}
            blob = self.codec.dumps(det.snapshot(accounts=False), partition=partition, offset=det.applied_offset,
                                    fingerprint=self.fingerprints[t])
            writes[t] = TriggerWrite(blob, put, gone, replace=t in unit.replace)
        outbox: list[OutboxRecord] = [firing_record(f) for f in firings]
        size, unit.stored_seq = self.store.apply(partition, unit.stored_offset, applied, writes, outbox,
                                                 unit.stored_seq)
        unit.stored_offset = applied
        for t, w in writes.items():
            ids = unit.stored_ids[t]
            if w.replace:
                ids.clear()
            ids.update(w.put)
            ids.difference_update(w.delete)
        unit.replace.clear()
        self.metrics.checkpoint_bytes.observe(size)
        self.metrics.checkpoint_seconds.observe(time.perf_counter() - start)

    def _unit(self, partition: int) -> _Unit:
        unit = self._units.get(partition)
        if unit is None:
            unit = self._units[partition] = self._load(partition)
        return unit

    def _cold(self, partition: int, trigger: str, reason: str, message: str) -> None:
        self.metrics.cold_starts.labels(reason=reason).inc()
        log.error("usage_drop trigger %r, partition %d: %s", trigger, partition, message)

    def _load(self, partition: int) -> _Unit:
        lateness = self.allowed_lateness_us
        detectors = {s.name: s.build(allowed_lateness_us=lateness) for s in self.specs}
        if self.codec is None:
            for t in self.names:
                self.metrics.cold_starts.labels(reason="no_key").inc()
            return _Unit(detectors, -1, {t: set() for t in self.names})
        start = time.perf_counter()
        loaded = self.store.load(partition, self.names)
        rules = self.rules_applied(partition) if self.rules_applied is not None else None
        unit = _Unit(detectors, loaded.applied_offset, {t: set(loaded.accounts.get(t, {})) for t in self.names},
                     stored_seq=loaded.seq)
        for t, det in detectors.items():
            stored_accounts = loaded.accounts.get(t, {})
            try:
                self._restore(det, partition, t, loaded.checkpoints.get(t), stored_accounts, loaded.applied_offset,
                              rules)
            except CheckpointRefused as refused:
                self._cold(partition, t, refused.reason, str(refused))
                det = detectors[t] = self.specs[self.names.index(t)].build(allowed_lateness_us=lateness)
                unit.replace.add(t)
            # a cold model resumes from the stored offset: what was applied before it is not applied again
            det.applied_offset = max(det.applied_offset, loaded.applied_offset)
        self.metrics.restore_seconds.observe(time.perf_counter() - start)
        return unit

    def _restore(self, det: DropOffDetector, partition: int, trigger: str, blob: bytes | None,
                 stored_accounts: dict[str, bytes], applied_offset: int, rules_applied: int | None) -> None:
        if blob is None:
            if stored_accounts:
                raise CheckpointRefused(f"accounts are stored but the model checkpoint is missing "
                                        f"(applied offset {applied_offset}); the model restarts cold", "missing")
            return  # never stored: a first start
        assert self.codec is not None
        checkpoint = self.codec.loads(blob, fingerprint=self.fingerprints[trigger])  # verified before unpickled
        if checkpoint.partition != partition:
            raise CheckpointRefused(f"checkpoint of partition {checkpoint.partition} offered to partition "
                                    f"{partition}; the model restarts cold", "partition")
        if checkpoint.offset != applied_offset:
            raise CheckpointRefused(f"checkpoint at offset {checkpoint.offset} does not match the stored applied "
                                    f"offset {applied_offset}; the model restarts cold", "offset")
        if rules_applied is not None and applied_offset < rules_applied:
            raise CheckpointRefused(f"checkpoint at offset {applied_offset} is behind the rules' applied offset "
                                    f"{rules_applied}: the events in between never reached the model (it stored "
                                    "nothing meanwhile); the model restarts cold", "behind")
        try:
            accounts = {aid: AccountDrop.decode(orjson.loads(raw)) for aid, raw in stored_accounts.items()}
        except Exception as exc:  # noqa: BLE001 - any malformed account state refuses the whole unit
            raise CheckpointRefused(f"a stored account state is malformed ({type(exc).__name__}); "
                                    "the model restarts cold", "account_state") from None
        det.restore(checkpoint.payload, accounts=accounts)
