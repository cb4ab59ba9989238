"""Outcome tracking: did each decision's success metric happen within its window?

Every measured decision — treated *and* control — is judged by its trigger's
success metric (``interventions.<name>.success`` in the config): a matching
event of the same account in ``[decided_at, decided_at + within)``. Control
decisions are judged exactly like treated ones; that is what makes the
difference between the arms the effect of the intervention.

:class:`OutcomeTracker` is incremental: it is fed decisions and events and
told how far event time has got (``advance``), and emits an :class:`Outcome`
when a success arrives or a window closes without one. Its memory lives in an
:class:`~interventions.measurement.state.OutcomeState`, so the live runtime can
keep it in Redis. Because an event only counts at or after ``decided_at``, the
arrival order of events does not change *whether* a decision succeeded; for
decisions that reach the tracker after the events that judge them (live, the
policy decides once the watermark passes the firing), ``lookback_us`` keeps
recent success events long enough to match them.

>>> from schemas.catalogue import SuccessMetric
>>> from schemas.predicate import EventSpec
>>> from schemas.event import Event
>>> from interventions.measurement.decisions import DecisionRecord
>>> DAY = 86_400_000_000
>>> tracker = OutcomeTracker({"payment_failing": SuccessMetric((EventSpec("payment.succeeded"),), 7 * DAY)})
>>> tracker.decide(DecisionRecord("f1", "a1", "payment_failing", "payment_outreach", "treated", 0))
[]
>>> tracker.decide(DecisionRecord("f2", "a2", "payment_failing", "payment_outreach", "control", 0))
[]
>>> [o.success for o in tracker.observe(Event("e1", "a1", "payment.succeeded", 2 * DAY))]
[True]
>>> [(o.decision.firing_id, o.success) for o in tracker.advance(7 * DAY)]
[('f2', False)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interventions.measurement.decisions import DecisionRecord
from interventions.measurement.state import InMemoryOutcomeState, OutcomeState, PendingOutcome
from schemas.catalogue import SuccessMetric
from schemas.event import Event
from schemas.timefmt import format_rfc3339

__all__ = ["Outcome", "OutcomeTracker", "OutcomeCounts", "track_outcomes", "settle"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one measured decision.

    ``success`` is True (the metric happened, first seen at ``succeeded_at``),
    False (the window closed without it) or None (the history ended while the
    window was still open: neither, and left out of the rates).
    """

    decision: DecisionRecord
    success: bool | None
    succeeded_at: int | None
    window_end: int

    def to_json(self) -> dict:
        d = self.decision
        return {
            "firing_id": d.firing_id, "account_id": d.account_id, "trigger": d.trigger,
            "intervention": d.intervention, "arm": d.arm, "decided_at": format_rfc3339(d.decided_at),
            "window_end": format_rfc3339(self.window_end), "success": self.success,
            "succeeded_at": None if self.succeeded_at is None else format_rfc3339(self.succeeded_at),
        }


@dataclass
class OutcomeCounts:
    """What the tracker did not measure, and why (shown in the report so nothing vanishes silently)."""

    duplicates: int = 0
    suppressed: Counter = field(default_factory=Counter)
    unknown_trigger: Counter = field(default_factory=Counter)


class OutcomeTracker:
    """Judges decisions by their trigger's success metric, incrementally (see the module docstring).

    ``metrics`` maps trigger name to its success metric. ``lookback_us`` is how
    long success events are remembered for decisions that arrive after them;
    0 when decisions are always fed before the events (files).
    """

    def __init__(self, metrics: Mapping[str, SuccessMetric], state: OutcomeState | None = None,
                 lookback_us: int = 0) -> None:
        self.metrics = dict(metrics)
        self.state: OutcomeState = state if state is not None else InMemoryOutcomeState()
        self.lookback_us = lookback_us
        self.counts = OutcomeCounts()
        # Per event type a metric names: the triggers every event of that type meets (a spec without
        # ``where``), and the (trigger, predicate) pairs to check on the event's properties. Other types
        # are dismissed by one dict lookup; matching every event against every metric was ~28 % of the
        # live outcome worker's CPU (python -m streams.bench.outcomes).
        always: dict[str, set[str]] = {}
        conditional: dict[str, list[tuple[str, Any]]] = {}
        for trigger, metric in self.metrics.items():
            for spec in metric.events:
                always.setdefault(spec.type, set())
                if spec.where is None:
                    always[spec.type].add(trigger)
                else:
                    conditional.setdefault(spec.type, []).append((trigger, spec.where))
        self._by_type = {kind: (frozenset(triggers), tuple((t, w) for t, w in conditional.get(kind, ())
                                                           if t not in triggers))
                         for kind, triggers in always.items()}

    def _met(self, event: Event) -> frozenset[str]:
        """The triggers whose success metric this event meets."""
        entry = self._by_type.get(event.type)
        if entry is None:
            return frozenset()
        met, conditional = entry
        if conditional:
            props = event.properties
            extra = {t for t, where in conditional if t not in met and where(props)}
            if extra:
                return met | extra
        return met

    def decide(self, decision: DecisionRecord) -> list[Outcome]:
        """Start measuring a decision; returns its outcome at once if a remembered event already settles it."""
        if not decision.measured:
            self.counts.suppressed[decision.trigger] += 1
            return []
        metric = self.metrics.get(decision.trigger)
        if metric is None:
            self.counts.unknown_trigger[decision.trigger] += 1
            return []
        deadline = decision.decided_at + metric.within_us
        if not self.state.claim(decision.firing_id, deadline + self.lookback_us):
            self.counts.duplicates += 1
            return []
        if self.lookback_us:
            hits = [ts for ts, triggers in self.state.remembered(decision.account_id)
                    if decision.trigger in triggers and decision.decided_at <= ts < deadline]
            if hits:
                return [Outcome(decision, True, min(hits), deadline)]
        self.state.add(PendingOutcome(decision, deadline))
        return []

    def observe(self, event: Event) -> list[Outcome]:
        """Apply one usage event: the open windows it satisfies become successes."""
        met = self._met(event)
        if not met:
            return []
        out = []
        for pending in self.state.pending(event.account_id):
            d = pending.decision
            if d.trigger in met and d.decided_at <= event.ts < pending.deadline:
                self.state.resolve(pending)
                out.append(Outcome(d, True, event.ts, pending.deadline))
        if self.lookback_us:
            self.state.remember(event.account_id, event.ts, met)
        return out

    def advance(self, watermark: int) -> list[Outcome]:
        """Event time has reached ``watermark``: windows closed by then without success are failures."""
        out = [Outcome(p.decision, False, None, p.deadline) for p in self.state.due(watermark)]
        self.state.expire(watermark - self.lookback_us)
        return out

    def close(self, until: int) -> list[Outcome]:
        """End of a finite history at ``until``: closed windows fail, the rest stay undecided (``success=None``)."""
        out = self.advance(until)
        out.extend(Outcome(p.decision, None, None, p.deadline) for p in self.state.drain())
        return out


def track_outcomes(decisions: Iterable[DecisionRecord], events: Iterable[Event],
                   metrics: Mapping[str, SuccessMetric], until: int) -> tuple[list[Outcome], OutcomeCounts]:
    """Every measured decision's outcome over a finite history ending at ``until`` (event time, µs).

    The decisions are all registered first, so the events may come in any
    order (a file in arrival order, duplicates included). A window still open
    at ``until`` is undecided even if a success already came: counting early
    successes but not yet-unknown failures would flatter the open windows.
    """
    tracker = OutcomeTracker(metrics)
    outcomes: list[Outcome] = []
    for decision in sorted(decisions, key=lambda d: (d.decided_at, d.firing_id)):
        outcomes.extend(tracker.decide(decision))
    for event in events:
        if event.ts < until:
            outcomes.extend(tracker.observe(event))
    return settle(tracker, outcomes, until), tracker.counts


def settle(tracker: OutcomeTracker, outcomes: list[Outcome], until: int) -> list[Outcome]:
    """Close a finite history: the tracker's last verdicts added, windows open at ``until`` made undecided."""
    outcomes = outcomes + tracker.close(until)
    outcomes = [o if o.window_end <= until else Outcome(o.decision, None, None, o.window_end) for o in outcomes]
    outcomes.sort(key=lambda o: (o.decision.decided_at, o.decision.firing_id))
    return outcomes
