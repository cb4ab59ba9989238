"""Run the drop-off model over a simulation's events, partition by partition, and score it against the truth.

The events are read once, in file order (the order a consumer would see
them), and routed to partitions the way the producers key them
(:func:`detectors.online.runner.partition_of`). Each partition has its own
detector per variant — one model per partition, as live — fed in chunks.
At the end every watermark moves to the largest ``occurred_at`` of the file,
as ``forewarn backtest`` does by default, so every day up to it is scored.

The rolling-mean baseline (:mod:`forewarn.evaluate.rolling_mean`) reads the
account-days of the first variant through its ``on_day`` hook: the same data,
the same run.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detectors.online.detector import DropOffDetector
from detectors.online.runner import partition_of
from detectors.online.usage_drop import UsageDrop
from forewarn.evaluate.errors import EvaluationError
from forewarn.evaluate.rolling_mean import RollingMeanRule
from forewarn.evaluate.scoring import DropOffScore, score_firings
from forewarn.evaluate.truth import AccountTruth
from schemas.event import Event, parse_event
from schemas.firing import Firing, firing_sort_key

__all__ = ["VariantResult", "DropOffEvaluation", "evaluate_drop_off", "CHUNK_EVENTS"]

#: Events handed to a partition's detectors at a time (a fetched chunk, live).
CHUNK_EVENTS = 2000


def _percentile(values: Sequence[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0


@dataclass(slots=True)
class VariantResult:
    """One detector configuration: its firings, its score and what it cost."""

    name: str
    spec: UsageDrop | None
    firings: list[Firing]
    score: DropOffScore
    seconds: float = 0.0
    account_days_scored: int = 0
    state_bytes: list[int] = field(default_factory=list)
    model_bytes_per_partition: list[int] = field(default_factory=list)
    thresholds: list[float | None] = field(default_factory=list)

    def cost_json(self, events: int) -> dict:
        return {
            "seconds": round(self.seconds, 3),
            "us_per_event": round(1e6 * self.seconds / events, 3) if events else None,
            "us_per_account_day": round(1e6 * self.seconds / self.account_days_scored, 3)
            if self.account_days_scored else None,
            "account_days_scored": self.account_days_scored,
            "state_bytes_per_account_mean": round(sum(self.state_bytes) / len(self.state_bytes), 1)
            if self.state_bytes else None,
            "state_bytes_per_account_p95": _percentile(self.state_bytes, 0.95),
            "state_bytes_per_account_max": max(self.state_bytes, default=0),
            "model_bytes_per_partition": self.model_bytes_per_partition,
            "learned_thresholds": self.thresholds,
        }


@dataclass(slots=True)
class DropOffEvaluation:
    """Everything one ``forewarn evaluate drop-off`` run found."""

    lines: int
    events: int
    malformed: int
    partitions: int
    accounts: int
    until_us: int | None
    parse_seconds: float
    variants: list[VariantResult]
    baseline: VariantResult | None


def _read_events(path: Path) -> Iterable[Event | None]:
    with path.open("rb") as fh:
        for line in fh:
            ev = parse_event(line.rstrip(b"\n"))
            yield ev if isinstance(ev, Event) else None


def evaluate_drop_off(events_path: Path, truth: Mapping[str, AccountTruth], variants: Sequence[UsageDrop], *,
                      partitions: int, allowed_lateness_us: int, baseline: RollingMeanRule | None = None,
                      progress=None) -> DropOffEvaluation:
    """Run every variant (and the baseline) over ``events_path`` in one pass; score each against ``truth``."""
    if not variants:
        raise EvaluationError("no usage_drop variant to evaluate")
    if partitions < 1:
        raise EvaluationError(f"--partitions {partitions}: use at least 1")
    if not events_path.is_file():
        raise EvaluationError(f"{events_path}: no such events file; `forewarn simulate --out DIR` writes DIR/events.jsonl")
    first = variants[0]
    healthy_days = [0]
    hook_seconds = [0.0]
    perf = time.process_time  # CPU time: the machine may be shared, wall time would blame us for others

    def on_day(aid, day, x, score, fired):
        t0 = perf()
        t = truth.get(aid)
        if score is not None and t is not None and t.kind == "healthy" and x["days_observed"] >= first.min_history_days:
            healthy_days[0] += 1
        if baseline is not None:
            baseline.observe(aid, day, x, score)
        hook_seconds[0] += perf() - t0

    detectors: list[list[DropOffDetector]] = [
        [v.build(allowed_lateness_us=allowed_lateness_us, on_day=on_day if i == 0 else None)
         for i, v in enumerate(variants)]
        for _ in range(partitions)
    ]
    seconds = [0.0] * len(variants)
    firings: list[list[Firing]] = [[] for _ in variants]
    buffers: list[list[Event]] = [[] for _ in range(partitions)]
    lines = events = malformed = 0
    max_ts: int | None = None
    seen_accounts: set[str] = set()
    t_start = perf()

    def flush(p: int) -> None:
        chunk = buffers[p]
        for i, det in enumerate(detectors[p]):
            t0 = perf()
            firings[i].extend(det.process(chunk))
            seconds[i] += perf() - t0
        buffers[p] = []

    for ev in _read_events(events_path):
        lines += 1
        if ev is None:
            malformed += 1
            continue
        events += 1
        seen_accounts.add(ev.account_id)
        if max_ts is None or ev.ts > max_ts:
            max_ts = ev.ts
        p = partition_of(ev.account_id, partitions)
        buffers[p].append(ev)
        if len(buffers[p]) >= CHUNK_EVENTS:
            flush(p)
        if progress is not None and lines % 200_000 == 0:
            progress(lines)
    for p in range(partitions):
        flush(p)
        if max_ts is not None:
            for i, det in enumerate(detectors[p]):
                t0 = perf()
                firings[i].extend(det.advance_to(max_ts))
                seconds[i] += perf() - t0
    total = perf() - t_start
    seconds[0] -= hook_seconds[0]
    parse_seconds = max(0.0, total - sum(seconds) - hook_seconds[0])

    results = []
    for i, v in enumerate(variants):
        fired = sorted(firings[i], key=firing_sort_key)
        dets = [detectors[p][i] for p in range(partitions)]
        r = VariantResult(
            name=_variant_name(v, variants), spec=v, firings=fired,
            score=score_firings(_variant_name(v, variants), fired, truth, healthy_days[0]),
            seconds=seconds[i], account_days_scored=sum(d.counts.account_days_scored for d in dets),
            state_bytes=[b for d in dets for b in d.account_state_bytes()],
            model_bytes_per_partition=[len(pickle.dumps({"scorer": d.scorer, "threshold": d.threshold}))
                                       for d in dets],
            thresholds=[None if d.threshold.value is None else round(d.threshold.value, 4) for d in dets],
        )
        results.append(r)
    base = None
    if baseline is not None:
        fired = sorted(baseline.firings, key=firing_sort_key)
        base = VariantResult(name="rolling-mean baseline", spec=None, firings=fired,
                             score=score_firings("rolling-mean baseline", fired, truth, healthy_days[0]),
                             seconds=hook_seconds[0])
    return DropOffEvaluation(lines, events, malformed, partitions, len(seen_accounts), max_ts, parse_seconds,
                             results, base)


def _variant_name(v: UsageDrop, variants: Sequence[UsageDrop]) -> str:
    same_detector = sum(1 for o in variants if o.detector == v.detector) > 1
    return f"{v.detector} q={v.quantile}" if same_detector else v.detector
