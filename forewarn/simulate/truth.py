"""Ground truth written beside the events, for tests, backtests and the impact report.

``DIR/truth/`` holds:

* ``accounts.jsonl`` — per account: persona, plan, MRR, onboarding, its first
  core-feature use among the events written (``first_core_feature_at``: None
  when it had none by the end of the run, or was onboarded before the run),
  when its silence, payment trouble or decline began, when it canceled (and
  when it would have without intervention), its planted lift per trigger, how
  often it was treated and when it was rescued;
* ``firings.jsonl`` — the exact firings of the seed triggers, from
  ``forewarn.simulate.reference`` over each account's valid, deduplicated events,
  ``fired_at`` at most the largest ``occurred_at`` of the run, one
  ``{"firing_id", "trigger", "account_id", "fired_at"}`` a line, sorted by
  (``fired_at``, ``account_id``, ``trigger``);
* ``treatments.jsonl`` — per intervention command applied: the planted lift,
  the success window, whether the success metric was met (``success``), whether
  it would have been met without the intervention (``natural_success``, from a
  replay of the account without it) and when the customer was rescued;
* ``summary.json`` — the run's options, counts of events by type, delivery
  noise (requested and realised), personas, expected firings and churn.

The average of ``success - natural_success`` over treated accounts is the true
effect of the interventions on them; a report's treated-versus-control
difference estimates it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from forewarn.simulate.config import ANY_TRIGGER
from forewarn.simulate.outcomes import success_metric
from forewarn.simulate.personas import PERSONAS
from forewarn.simulate.reference import SEED_TRIGGERS, account_firings
from schemas.firing import Firing, firing_sort_key
from schemas.timefmt import format_rfc3339

if TYPE_CHECKING:
    from forewarn.simulate.simulation import Simulation

__all__ = ["Truth", "build_truth", "TRUTH_FILES"]

TRUTH_FILES = ("accounts.jsonl", "firings.jsonl", "treatments.jsonl", "summary.json")


def _time(us: int | None) -> str | None:
    return None if us is None else format_rfc3339(us)


@dataclass
class Truth:
    """Everything the simulation knows that a pipeline has to find out.

    >>> from forewarn.simulate.config import SimulationConfig
    >>> from forewarn.simulate.simulation import Simulation
    >>> sim = Simulation(SimulationConfig(accounts=30, days=2, seed=1))
    >>> _ = sim.step(); _ = sim.step()
    >>> truth = sim.truth()
    >>> len(truth.accounts), truth.summary["days_simulated"], sorted(truth.firing_counts)
    (30, 2, ['onboarding_stalled', 'payment_failing', 'power_user_gone_quiet'])
    """

    accounts: list[dict[str, Any]]
    firings: list[Firing]
    treatments: list[dict[str, Any]]
    summary: dict[str, Any]
    firing_counts: dict[str, int] = field(default_factory=dict)

    def firing_lines(self) -> list[bytes]:
        return [
            orjson.dumps({
                "firing_id": f.firing_id,
                "trigger": f.trigger,
                "account_id": f.account_id,
                "fired_at": format_rfc3339(f.fired_at),
            })
            for f in self.firings
        ]

    def write(self, directory: Path) -> None:
        """Write the four truth files into ``directory`` (created if needed)."""
        directory.mkdir(parents=True, exist_ok=True)
        _write_lines(directory / "accounts.jsonl", [orjson.dumps(a) for a in self.accounts])
        _write_lines(directory / "firings.jsonl", self.firing_lines())
        _write_lines(directory / "treatments.jsonl", [orjson.dumps(t) for t in self.treatments])
        (directory / "summary.json").write_bytes(
            orjson.dumps(self.summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def build_truth(sim: "Simulation") -> Truth:
    """The truth of ``sim`` over the days simulated so far."""
    cfg = sim.config
    cal = sim.calendar
    counts = sim.delivery.counts
    until = counts.max_occurred_at
    firings: list[Firing] = []
    if until is not None:
        for account in sim.accounts:
            firings.extend(account_firings(account.account_id, account.facts(), until, cfg.core_features))
    firings.sort(key=firing_sort_key)

    treated = Counter(t.account_id for t in sim.treatments)
    accounts = []
    for account in sim.accounts:
        plan = account.plan
        responsiveness = PERSONAS[plan.persona].responsiveness
        lifts = {trigger: cfg.lift_for(trigger) * responsiveness for trigger in (*SEED_TRIGGERS, ANY_TRIGGER)}
        accounts.append({
            "account_id": account.account_id,
            "persona": plan.persona,
            "plan": plan.plan,
            "mrr_usd": plan.mrr_usd,
            "users": plan.users,
            "onboarded_at": _time(plan.onboarded_at),
            "first_core_feature_at": _time(account.first_core_at()) if plan.onboarded_at is not None else None,
            "quiet_from": _time(account.quiet_from),
            "payment_trouble_from": _time(account.trouble_starts_at),
            "decline_started": None if plan.decline_day is None else format_rfc3339(cal.day_start(plan.decline_day))[:10],
            "churned_at": _time(account.canceled_at),
            "natural_churn_at": _time(account.natural_churn_at),
            "lifts": lifts,
            "treatments": treated.get(account.account_id, 0),
            "rescued_at": _time(account.rescued_at),
        })

    treatments = []
    for t in sim.treatments:
        account = sim.account(t.account_id)
        treatments.append({
            "command_id": t.command_id,
            "account_id": t.account_id,
            "trigger": t.trigger,
            "intervention": t.intervention,
            "decided_at": format_rfc3339(t.decided_at),
            "applied_at": format_rfc3339(t.applied_at),
            "success_metric": t.wanted,
            "window_end": format_rfc3339(t.window_end),
            "window_complete": t.window_end <= cal.day_start(sim.next_day),
            "lift": t.lift,
            "success": account.met(t.wanted, t.decided_at, t.window_end),
            "natural_success": t.natural_success,
            "rescued_at": _time(t.rescued_at),
            "proactive_ticket": t.proactive_ticket,
        })

    firing_counts = {trigger: 0 for trigger in SEED_TRIGGERS}
    firing_counts.update(Counter(f.trigger for f in firings))
    noise = cfg.noise
    summary = {
        "seed": cfg.seed,
        "accounts": cfg.accounts,
        "days": cfg.days,
        "days_simulated": sim.next_day,
        "start": format_rfc3339(cal.start_us),
        "end": format_rfc3339(cal.day_start(sim.next_day)),
        "max_occurred_at": _time(until),
        "core_features": list(cfg.core_features),
        "lifts": dict(cfg.lifts),
        "success_metrics": {
            trigger: {"wanted": success_metric(trigger).wanted, "window_days": success_metric(trigger).window_days}
            for trigger in SEED_TRIGGERS
        },
        "noise": {
            "requested": {
                "duplicate_share": noise.duplicate_share,
                "out_of_order_share": noise.out_of_order_share,
                "malformed_share": noise.malformed_share,
                "lateness_seconds": noise.lateness_seconds,
            },
            "events": counts.events,
            "lines": counts.lines,
            "duplicate_lines": counts.duplicate_lines,
            "delayed_events": counts.delayed_events,
            "out_of_order_lines": counts.out_of_order_lines,
            "malformed_lines": counts.malformed_lines,
            "malformed_by_reason": dict(sorted(counts.malformed_by_reason.items())),
        },
        "events_by_type": dict(sorted(counts.events_by_type.items())),
        "personas": dict(sorted(Counter(a.plan.persona for a in sim.accounts).items())),
        "plans": dict(sorted(Counter(a.plan.plan for a in sim.accounts).items())),
        "firings_by_trigger": firing_counts,
        "churned_accounts": sum(1 for a in sim.accounts if a.canceled_at is not None),
        "commands": {**sim.fed, "not_yet_due": sim.pending_commands},
        "treatments": {
            "applied": len(treatments),
            "rescued": sum(1 for t in treatments if t["rescued_at"] is not None),
            "success": sum(1 for t in treatments if t["success"]),
            "natural_success": sum(1 for t in treatments if t["natural_success"]),
        },
    }
    return Truth(accounts, firings, treatments, summary, firing_counts)
