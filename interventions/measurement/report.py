"""The impact report's numbers, from one pass over a window of history.

Inputs are the decision log (every decision, treated, control or suppressed),
the usage events (tickets and cancellations arrive as events too), the
success metric of each trigger, the channel of each intervention, and the
``costs:`` section. Output is an :class:`ImpactReport` whose ``to_json()``
is the report's JSON; the HTML page, the terminal table and the Prometheus
gauges are all drawn from it, so they cannot disagree.

The window is ``[since, until)`` in event time; by default it runs from the
first valid event or decision to just past the last valid event. Decisions made in the window are
measured; a decision whose success window is still open at ``until`` is
shown as open and left out of the rates. An ``until`` later than the data is
brought back to just past the last valid event (and the report says so):
nothing was seen after it, so no follow-up, window or week can run on past it.
A window whose end is not after its start is refused (:class:`WindowError`).

>>> from schemas.catalogue import SuccessMetric
>>> from schemas.predicate import EventSpec
>>> from schemas.event import Event
>>> from interventions.measurement.decisions import DecisionRecord
>>> DAY = 86_400_000_000
>>> metric = SuccessMetric((EventSpec("payment.succeeded"),), 7 * DAY)
>>> decisions = [DecisionRecord(f"f{i}", f"a{i}", "payment_failing", "payment_outreach",
...                             "treated" if i % 2 else "control", DAY) for i in range(8)]
>>> events = [Event(f"e{i}", f"a{i}", "payment.succeeded", 2 * DAY) for i in range(8) if i % 4 == 1]
>>> events.append(Event("end", "a0", "session.started", 60 * DAY - 1))  # the history runs to day 60
>>> report = build_report(decisions, events, {"payment_failing": metric}, {"payment_outreach": "csm_task"},
...                       since=0, until=60 * DAY, minimum_per_arm=3)
>>> t = report.triggers[0]
>>> t.comparison.treated_rate, t.comparison.control_rate, t.comparison.uplift
(0.5, 0.0, 0.5)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interventions.measurement.costs import CostModel
from interventions.measurement.decisions import ARMS, DecisionRecord
from interventions.measurement.errors import WindowError
from interventions.measurement.history import EventFileStats
from interventions.measurement.receipts import DELIVERY_STATUSES, ReceiptBook
from interventions.measurement.outcomes import Outcome, OutcomeCounts, OutcomeTracker, settle
from interventions.measurement.retention import RetentionByArm, retention_by_arm, retention_subjects
from interventions.measurement.roi import DAYS_PER_MONTH, Roi, RoiInputs, compute_roi
from interventions.measurement.stats import (
    Z95,
    Interval,
    RateComparison,
    compare_rates,
    mean_difference,
    quantile,
)
from interventions.measurement.tickets import ORIGINS, TicketLedger, WeekTickets
from schemas.catalogue import SuccessMetric
from schemas.event import Event
from schemas.timefmt import US_PER_DAY, format_rfc3339

__all__ = ["TriggerImpact", "Resolution", "ImpactReport", "build_report", "CANCELED"]

#: The event that ends a subscription: churn, for the retention curves.
CANCELED = "subscription.canceled"


@dataclass(frozen=True, slots=True)
class TriggerImpact:
    """One trigger's decisions by arm and the success-rate comparison of its measured, closed windows."""

    trigger: str
    intervention: str
    success_metric: str
    decisions: Mapping[str, int]
    open_windows: int
    comparison: RateComparison
    delivery: Mapping[str, int] | None = None

    def to_json(self) -> dict:
        c = self.comparison

        def arm(successes: int, trials: int, rate: float | None, ci: Interval | None) -> dict:
            return {"successes": successes, "decisions": trials, "rate": rate,
                    "interval": None if ci is None else ci.to_json()}

        return {
            "trigger": self.trigger, "intervention": self.intervention, "success_metric": self.success_metric,
            "decisions": dict(self.decisions), "open_windows": self.open_windows,
            "treated": arm(c.treated_successes, c.treated_trials, c.treated_rate, c.treated_interval),
            "control": arm(c.control_successes, c.control_trials, c.control_rate, c.control_interval),
            "uplift": c.uplift, "uplift_interval": None if c.interval is None else c.interval.to_json(),
            "reason": c.reason,
            "delivery": None if self.delivery is None else dict(self.delivery),
        }


@dataclass(frozen=True, slots=True)
class Resolution:
    """Time to resolution of one origin's tickets, in hours."""

    origin: str
    tickets: int
    median_hours: float | None
    p90_hours: float | None
    unresolved: int

    def to_json(self) -> dict:
        return {"tickets": self.tickets, "median_hours": self.median_hours, "p90_hours": self.p90_hours,
                "unresolved": self.unresolved}


@dataclass
class ImpactReport:
    """Everything the report shows; ``to_json()`` is the machine-readable report."""

    since: int
    until: int
    settings: dict[str, Any]
    events: EventFileStats
    decisions_by_arm: Mapping[str, int]
    outcome_counts: OutcomeCounts
    triggers: list[TriggerImpact]
    weeks: list[WeekTickets]
    resolution: dict[str, Resolution]
    retention: RetentionByArm
    retention_by_trigger: dict[str, RetentionByArm]
    retention_excluded: int
    tickets_per_decision: dict[str, Any]
    costs: CostModel | None
    roi: Roi | None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The ``until`` asked for when it was later than the data and ``until`` was brought back; else None.
    until_requested: int | None = None

    @property
    def inbound_per_active_account_per_week(self) -> float | None:
        """Mean over the whole weeks of the window (partial weeks would understate a week's volume)."""
        rates = [w.inbound_per_active_account for w in self.weeks
                 if not w.partial and w.inbound_per_active_account is not None]
        return sum(rates) / len(rates) if rates else None

    def to_json(self) -> dict[str, Any]:
        ev = self.events
        window: dict[str, Any] = {"since": format_rfc3339(self.since), "until": format_rfc3339(self.until),
                                  "days": (self.until - self.since) / US_PER_DAY}
        if self.until_requested is not None:
            window["until_requested"] = format_rfc3339(self.until_requested)
            window["note"] = (f"until {window['until_requested']} is after the last event; the window ends just "
                              f"after it, at {window['until']}")
        return {
            "report": "forewarn impact report",
            "window": window,
            "settings": dict(self.settings),
            "inputs": {
                "event_lines": ev.lines, "events": ev.events, "malformed_lines": dict(sorted(ev.malformed.items())),
                "decisions": dict(self.decisions_by_arm),
                "duplicate_decisions": self.outcome_counts.duplicates,
                "decisions_without_success_metric": dict(sorted(self.outcome_counts.unknown_trigger.items())),
                **self.extra,
            },
            "triggers": [t.to_json() for t in self.triggers],
            "tickets": {
                "inbound_per_active_account_per_week": self.inbound_per_active_account_per_week,
                "weeks": [w.to_json() for w in self.weeks],
                "per_decision_within_horizon": self.tickets_per_decision,
            },
            "time_to_resolution": {origin: r.to_json() for origin, r in self.resolution.items()},
            "retention": {**self.retention.to_json(), "excluded_already_canceled": self.retention_excluded,
                          "by_trigger": {t: r.to_json()["at_horizon"] for t, r in self.retention_by_trigger.items()}},
            "costs": None if self.costs is None else self.costs.to_json(),
            "roi": None if self.roi is None else self.roi.to_json(),
        }


def _comparisons(decisions: Sequence[DecisionRecord], outcomes: Sequence[Outcome],
                 interventions: Mapping[str, str], metrics: Mapping[str, SuccessMetric],
                 minimum_per_arm: int, receipts: ReceiptBook | None) -> list[TriggerImpact]:
    by_arm: dict[str, Counter] = defaultdict(Counter)
    for d in decisions:
        by_arm[d.trigger][d.arm] += 1
    closed: dict[str, Counter] = defaultdict(Counter)
    opened: Counter = Counter()
    for o in outcomes:
        t, arm = o.decision.trigger, o.decision.arm
        if o.success is None:
            opened[t] += 1
        else:
            closed[t][(arm, "n")] += 1
            closed[t][(arm, "x")] += o.success
    delivery: dict[str, Counter] = defaultdict(Counter)
    if receipts is not None:
        for d in decisions:
            if d.arm == "treated":
                delivery[d.trigger][receipts.status(d.command_id)] += 1
    out = []
    for trigger in sorted(by_arm):
        c = closed[trigger]
        metric = metrics.get(trigger)
        out.append(TriggerImpact(
            trigger, interventions.get(trigger, "?"), metric.describe() if metric else "no success metric",
            {arm: by_arm[trigger][arm] for arm in ARMS}, opened[trigger],
            compare_rates(c[("treated", "x")], c[("treated", "n")], c[("control", "x")], c[("control", "n")],
                          minimum_per_arm),
            None if receipts is None else {s: delivery[trigger][s] for s in DELIVERY_STATUSES},
        ))
    return out


def _resolution(ledger: TicketLedger, since: int, until: int) -> dict[str, Resolution]:
    hours = ledger.resolution_hours(since, until)
    unresolved = ledger.unresolved(since, until)
    out = {}
    for origin in ORIGINS:
        xs = hours[origin]
        out[origin] = Resolution(origin, len(xs), quantile(xs, 0.5) if xs else None,
                                 quantile(xs, 0.9) if xs else None, unresolved[origin])
    return out


def _tickets_per_decision(decisions: Sequence[DecisionRecord], inbound: Mapping[str, list[int]],
                          horizon: int, until: int) -> tuple[dict[str, Any], tuple[float, Interval] | None]:
    """Inbound tickets of the account within ``horizon`` of each measured decision whose horizon ended by ``until``."""
    counts: dict[str, list[float]] = {"treated": [], "control": []}
    for d in decisions:
        if d.measured and d.decided_at + horizon <= until:
            end = d.decided_at + horizon
            counts[d.arm].append(float(sum(1 for ts in inbound.get(d.account_id, ()) if d.decided_at <= ts < end)))
    avoided = mean_difference(counts["control"], counts["treated"])
    summary = {
        "horizon_days": horizon / US_PER_DAY,
        **{arm: {"decisions": len(xs), "mean": sum(xs) / len(xs) if xs else None} for arm, xs in counts.items()},
        "avoided_per_decision": None if avoided is None else avoided[0],
        "avoided_interval": None if avoided is None else avoided[1].to_json(),
    }
    return summary, avoided


def _monthly_revenue(costs: CostModel, accounts: Iterable[tuple[str, int]],
                     observed: Mapping[str, list[tuple[int, float]]]) -> float:
    """Sum of the accounts' monthly revenue: their latest revenue event before ``start``, or the default."""
    total = 0.0
    for account, start in accounts:
        values = observed.get(account, ())
        before = [v for v in values if v[0] <= start]
        pick = max(before) if before else (min(values) if values else None)
        total += pick[1] if pick is not None else costs.monthly_revenue_per_account
    return total


def _unique(decisions: Iterable[DecisionRecord]) -> tuple[list[DecisionRecord], int]:
    """The decisions in (decided_at, firing_id) order, each firing's once, and how many repeats were dropped.

    The policy publishes through an outbox that republishes after a crash, so a decision log read from
    Kafka can hold a decision twice; every count, cost and ticket sample must see it once.
    """
    ordered = sorted(decisions, key=lambda d: (d.decided_at, d.firing_id))
    seen: set[str] = set()
    unique = [d for d in ordered if not (d.firing_id in seen or seen.add(d.firing_id))]
    return unique, len(ordered) - len(unique)


#: The longest retention horizon a report takes (ten years): its curves hold one point a day.
MAX_HORIZON_DAYS = 3653


def build_report(decisions: Iterable[DecisionRecord], events: Iterable[Event],
                 metrics: Mapping[str, SuccessMetric], channels: Mapping[str, str], *,
                 interventions: Mapping[str, str] | None = None, costs: CostModel | None = None,
                 receipts: ReceiptBook | None = None,
                 since: int | None = None, until: int | None = None, event_stats: EventFileStats | None = None,
                 minimum_per_arm: int = 30, horizon_days: float = 90.0, minimum_at_risk: int = 10) -> ImpactReport:
    """Compute the report (see the module docstring).

    ``metrics``: trigger → success metric; ``channels``: intervention → channel;
    ``interventions``: trigger → intervention name (for display; taken from
    the decisions when absent). ``receipts`` adds how many treated decisions'
    commands were delivered. ``events`` is read once. Without ``since`` /
    ``until`` the window is the span of the valid events.
    """
    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:  # NaN too: the curves are drawn day by day up to it
        raise WindowError(f"a retention horizon of {horizon_days!r} days: give --horizon-days from 1 to "
                          f"{MAX_HORIZON_DAYS}")
    all_decisions, repeated = _unique(decisions)
    if until is not None:
        all_decisions = [d for d in all_decisions if d.decided_at < until]
    accounts = {d.account_id for d in all_decisions}
    stats = event_stats if event_stats is not None else EventFileStats()
    ledger = TicketLedger(track_accounts=accounts)
    cancellations: dict[str, list[int]] = defaultdict(list)
    revenue_src = costs.monthly_revenue_from if costs is not None else None
    revenue: dict[str, list[tuple[int, float]]] = defaultdict(list)
    seen_cancel: set[str] = set()
    # Every decision is registered before the events, so the events may come in any order; those made
    # before ``since`` are dropped at the end, when the window is known.
    tracker = OutcomeTracker(metrics)
    tracker.counts.duplicates += repeated
    outcomes: list[Outcome] = []
    for d in all_decisions:
        outcomes.extend(tracker.decide(d))

    for event in events:
        if event_stats is None:
            stats.note(event)
        if until is not None and event.ts >= until:
            continue
        ledger.observe(event)
        account = event.account_id
        if account not in accounts:
            continue
        outcomes.extend(tracker.observe(event))
        if event.type == CANCELED and event.event_id not in seen_cancel:
            seen_cancel.add(event.event_id)
            cancellations[account].append(event.ts)
        if revenue_src is not None and event.type == revenue_src.event:
            amount = event.properties.get(revenue_src.property)
            if isinstance(amount, (int, float)) and not isinstance(amount, bool):
                revenue[account].append((event.ts, float(amount)))

    if since is None:
        starts = [t for t in (stats.first_ts, all_decisions[0].decided_at if all_decisions else None) if t is not None]
        since = min(starts, default=0)
    data_end = (stats.last_ts + 1) if stats.last_ts is not None else since + 1
    requested = None
    if until is None:
        until = data_end
    elif until > data_end:
        # Nothing was seen after the last event: censoring, success windows, ticket horizons and the
        # operating months would all run on through days nobody observed.
        requested, until = until, data_end
    if until <= since:
        span = (f"the events run from {format_rfc3339(stats.first_ts)} to {format_rfc3339(stats.last_ts)}"
                if stats.last_ts is not None else "there are no valid events")
        raise WindowError(f"empty window: it would end at {format_rfc3339(until)}, not after its start "
                          f"{format_rfc3339(since)} ({span}); give an --until after --since, within the data")
    window = [d for d in all_decisions if since <= d.decided_at < until]
    in_window = {d.firing_id for d in window}
    outcomes = [o for o in settle(tracker, outcomes, until) if o.decision.firing_id in in_window]
    counts = tracker.counts
    names = dict(interventions or {})
    for d in window:
        if d.intervention:
            names.setdefault(d.trigger, d.intervention)

    subjects, excluded = retention_subjects(window, cancellations, until)
    retention = retention_by_arm(subjects, horizon_days, minimum_at_risk)
    by_trigger = {}
    for trigger in sorted({d.trigger for d in window}):
        subs, _ = retention_subjects([d for d in window if d.trigger == trigger], cancellations, until)
        by_trigger[trigger] = retention_by_arm(subs, horizon_days, minimum_at_risk)

    horizon = costs.ticket_horizon_us if costs is not None else 30 * US_PER_DAY
    per_decision, avoided = _tickets_per_decision(window, ledger.inbound_times, horizon, until)

    roi = None
    if costs is not None:
        treated = [d for d in window if d.arm == "treated"]
        missing = sorted({d.intervention for d in treated if d.intervention not in channels})
        treated_subjects = [(s.account_id, s.start) for s in subjects if s.arm == "treated"]
        diff = retention.difference
        inputs = RoiInputs(
            retention_difference=diff.difference,
            retention_interval=None if diff.interval is None else (diff.interval.low, diff.interval.high),
            treated_accounts=len(treated_subjects),
            treated_monthly_revenue=_monthly_revenue(costs, treated_subjects, revenue),
            months_per_retained_account=costs.months_of_revenue_per_retained_account,
            tickets_avoided_per_decision=None if avoided is None else avoided[0],
            tickets_interval=None if avoided is None else (avoided[1].low, avoided[1].high),
            treated_decisions=len(treated),
            cost_per_inbound_ticket=costs.cost_per_inbound_ticket,
            contact_cost=sum(costs.cost_per_contact.get(channels.get(d.intervention, ""), 0.0) for d in treated),
            window_months=(until - since) / US_PER_DAY / DAYS_PER_MONTH,
            operating_cost_per_month=costs.operating_cost_per_month,
        )
        roi = compute_roi(inputs)
        if missing:
            roi = Roi(inputs, roi.retained_accounts, roi.retained_revenue, roi.avoided_tickets,
                      roi.avoided_ticket_cost, roi.operating_cost, None, None,
                      f"intervention(s) {', '.join(missing)} are not in the config, so their contacts have no cost")

    return ImpactReport(
        since=since, until=until,
        settings={"confidence": 0.95, "z": Z95, "minimum_per_arm": minimum_per_arm,
                  "retention_horizon_days": horizon_days, "minimum_at_risk": minimum_at_risk},
        events=stats,
        decisions_by_arm={arm: sum(1 for d in window if d.arm == arm) for arm in ARMS},
        outcome_counts=counts,
        triggers=_comparisons(window, outcomes, names, metrics, minimum_per_arm, receipts),
        weeks=ledger.weeks(since, until),
        resolution=_resolution(ledger, since, until),
        retention=retention, retention_by_trigger=by_trigger, retention_excluded=excluded,
        tickets_per_decision=per_decision, costs=costs, roi=roi, until_requested=requested,
    )
