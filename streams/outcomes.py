"""Prometheus gauges of the measurement's headline figures, in a registry passed in.

On-call and success leads watch the same figures the impact report shows:
success rate by trigger and arm, inbound tickets per active account, and
time to resolution by origin. The gauges are set from a report's JSON
(``set_report``) — what ``forewarn report`` and the demo compute — or kept
current from a live :class:`~interventions.measurement.outcomes.OutcomeTracker`'s
verdicts (``record``). Labels are bounded: trigger names come from the
config (others are refused), arms and origins are fixed sets; never an
account.

>>> from prometheus_client import CollectorRegistry
>>> gauges = OutcomeGauges(CollectorRegistry(), triggers=["payment_failing"])
>>> gauges.set_report({"triggers": [{"trigger": "payment_failing",
...     "treated": {"rate": 0.5, "decisions": 40}, "control": {"rate": 0.25, "decisions": 12}}],
...     "tickets": {"inbound_per_active_account_per_week": 0.1, "weeks": []},
...     "time_to_resolution": {"inbound": {"median_hours": 20.0, "p90_hours": 50.0}}})
>>> gauges.value("forewarn_outcome_success_ratio", trigger="payment_failing", arm="treated")
0.5
>>> gauges.value("forewarn_time_to_resolution_seconds", origin="inbound", percentile="90")
180000.0
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from interventions.measurement.decisions import MEASURED_ARMS, DecisionRecord
from interventions.measurement.outcomes import Outcome, OutcomeTracker
from interventions.measurement.state import OutcomeState
from interventions.measurement.tickets import ORIGINS
from schemas.catalogue import SuccessMetric
from schemas.event import Event

__all__ = ["OutcomeGauges", "OutcomeMonitor"]

# The label is "percentile", not "quantile": Prometheus keeps "quantile" for summaries (promtool flags it
# on a gauge), and these are a report's median and p90, not a summary's running quantiles.
_PERCENTILES = {"median_hours": "50", "p90_hours": "90"}


class OutcomeGauges:
    """The headline gauges. ``triggers``: the config's trigger names (the only trigger labels allowed).

    ``tickets=False`` leaves out the ticket and resolution gauges (a process that does not compute them,
    like ``forewarn outcomes``, must not export zeros that read as figures).
    """

    def __init__(self, registry: CollectorRegistry, triggers: Iterable[str], *, tickets: bool = True) -> None:
        self.registry = registry
        self.triggers = frozenset(triggers)
        self.success_ratio = Gauge(
            "forewarn_outcome_success_ratio",
            "Share of decisions whose success metric happened within its window, by trigger and arm "
            "(closed windows only).", ["trigger", "arm"], registry=registry)
        self.measured = Gauge(
            "forewarn_outcome_decisions", "Decisions with a closed success window, by trigger and arm.",
            ["trigger", "arm"], registry=registry)
        self.tickets_per_account = self.tickets_last_week = self.resolution = None
        if tickets:
            self.tickets_per_account = Gauge(
                "forewarn_inbound_tickets_per_active_account",
                "Inbound tickets per active account per week: the mean over the report's whole weeks.",
                registry=registry)
            self.tickets_last_week = Gauge(
                "forewarn_inbound_tickets_per_active_account_last_week",
                "Inbound tickets per active account in the last whole week of the report.", registry=registry)
            self.resolution = Gauge(
                "forewarn_time_to_resolution_seconds",
                "Time from ticket opened to resolved, by origin: median (percentile 50) and p90.",
                ["origin", "percentile"],
                registry=registry)
        self._counts: Counter = Counter()
        for trigger in sorted(self.triggers):
            for arm in MEASURED_ARMS:
                self.measured.labels(trigger=trigger, arm=arm)

    def _check(self, trigger: str) -> bool:
        # An unknown trigger (a decision log from another config) must not mint new label values.
        return trigger in self.triggers

    def record(self, outcome: Outcome) -> None:
        """Fold one live verdict into the running success ratio of its trigger and arm."""
        d = outcome.decision
        if outcome.success is None or not self._check(d.trigger) or d.arm not in MEASURED_ARMS:
            return
        key = (d.trigger, d.arm)
        self._counts[key + ("n",)] += 1
        self._counts[key + ("x",)] += bool(outcome.success)
        n = self._counts[key + ("n",)]
        self.measured.labels(trigger=d.trigger, arm=d.arm).set(n)
        self.success_ratio.labels(trigger=d.trigger, arm=d.arm).set(self._counts[key + ("x",)] / n)

    def set_report(self, report: Mapping[str, Any]) -> None:
        """Set every gauge from a report JSON (``ImpactReport.to_json()``); missing figures are left as they are."""
        for t in report.get("triggers", ()):
            if not self._check(t["trigger"]):
                continue
            for arm in MEASURED_ARMS:
                a = t[arm]
                self.measured.labels(trigger=t["trigger"], arm=arm).set(a["decisions"])
                if a["rate"] is not None:
                    self.success_ratio.labels(trigger=t["trigger"], arm=arm).set(a["rate"])
        if self.tickets_per_account is None:
            return
        tickets = report.get("tickets") or {}
        if tickets.get("inbound_per_active_account_per_week") is not None:
            self.tickets_per_account.set(tickets["inbound_per_active_account_per_week"])
        whole = [w for w in tickets.get("weeks", ()) if not w["partial"] and w["inbound_per_active_account"] is not None]
        if whole:
            self.tickets_last_week.set(whole[-1]["inbound_per_active_account"])
        for origin, r in (report.get("time_to_resolution") or {}).items():
            if origin not in ORIGINS:
                continue
            for key, percentile in _PERCENTILES.items():
                if r.get(key) is not None:
                    self.resolution.labels(origin=origin, percentile=percentile).set(r[key] * 3600.0)

    def value(self, name: str, **labels: str) -> float | None:
        """The current value of one sample (tests, the demo's summary)."""
        return self.registry.get_sample_value(name, labels)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def set_counts(self, counts: Mapping[tuple[str, str], tuple[int, int]]) -> None:
        """Set the gauges from cumulative closed-window counts: (trigger, arm) → (closed, successes).

        What the live outcome worker (``forewarn outcomes``) calls with the counts of every partition,
        so every worker exports the same global figures. A ratio is set only once a window closed.
        """
        for (trigger, arm), (closed, successes) in counts.items():
            if not self._check(trigger) or arm not in MEASURED_ARMS:
                continue
            self.measured.labels(trigger=trigger, arm=arm).set(closed)
            if closed:
                self.success_ratio.labels(trigger=trigger, arm=arm).set(successes / closed)


class OutcomeMonitor:
    """Live glue: an :class:`OutcomeTracker` whose verdicts keep the success-ratio gauges current.

    A consumer of ``usage-events`` and ``intervention-decisions`` calls
    ``events``/``decisions`` with what it read and ``advance`` with its
    watermark. ``lookback_us`` must cover how long a decision can trail the
    events that judge it (allowed lateness plus the policy's decision window).
    The state is where the tracker's memory lives (in memory by default; any
    :class:`OutcomeState` can be passed in).

    Like the report, the gauges count closed windows only: the tracker knows a
    success when it happens but a failure only when the window closes, so a
    success is held until the watermark passes its window's end (counting it
    at once would raise the ratio while windows are open).

    >>> from prometheus_client import CollectorRegistry
    >>> from schemas.predicate import EventSpec
    >>> DAY = 86_400_000_000
    >>> monitor = OutcomeMonitor(OutcomeGauges(CollectorRegistry(), ["payment_failing"]),
    ...     {"payment_failing": SuccessMetric((EventSpec("payment.succeeded"),), 7 * DAY)}, lookback_us=DAY)
    >>> monitor.events([Event("e1", "a1", "payment.succeeded", DAY + 5)])
    >>> monitor.decisions([DecisionRecord("f1", "a1", "payment_failing", "outreach", "treated", DAY)])
    >>> monitor.gauges.value("forewarn_outcome_decisions", trigger="payment_failing", arm="treated")
    0.0
    >>> monitor.advance(8 * DAY)
    >>> monitor.gauges.value("forewarn_outcome_success_ratio", trigger="payment_failing", arm="treated")
    1.0
    """

    def __init__(self, gauges: OutcomeGauges, metrics: Mapping[str, SuccessMetric],
                 state: OutcomeState | None = None, lookback_us: int = 0) -> None:
        self.gauges = gauges
        self.tracker = OutcomeTracker(metrics, state, lookback_us)
        self.watermark: int | None = None
        self._held: list[tuple[int, str, Outcome]] = []  # successes whose window is still open, by window end

    def _record(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.success and (self.watermark is None or outcome.window_end > self.watermark):
                heapq.heappush(self._held, (outcome.window_end, outcome.decision.firing_id, outcome))
            else:
                self.gauges.record(outcome)

    def decisions(self, decisions: Iterable[DecisionRecord]) -> None:
        for d in decisions:
            self._record(self.tracker.decide(d))

    def events(self, events: Iterable[Event]) -> None:
        for e in events:
            self._record(self.tracker.observe(e))

    def advance(self, watermark: int) -> None:
        """Event time has reached ``watermark``: windows closed by then count, successes and failures alike."""
        self.watermark = watermark if self.watermark is None else max(self.watermark, watermark)
        self._record(self.tracker.advance(watermark))
        held = self._held
        while held and held[0][0] <= self.watermark:
            self.gauges.record(heapq.heappop(held)[2])
