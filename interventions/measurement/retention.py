"""Retention by arm: Kaplan–Meier curves from the first decision on, churn = ``subscription.canceled``.

The unit is the account. Its clock starts at its first measured decision
(treated or control) and its arm is that decision's arm: the holdout drew it
at random then, so the two groups are comparable whatever happened later
(an intention-to-treat reading; if a later decision put the account in the
other arm, that only dilutes the difference, it cannot fake one). An account
churns at its first ``subscription.canceled`` at or after the start, and is
censored at the end of the history otherwise. An account that had already
canceled before its first decision is not at risk and is left out (counted).

>>> from interventions.measurement.decisions import DecisionRecord
>>> DAY = 86_400_000_000
>>> ds = [DecisionRecord("f1", "a1", "t", "i", "treated", 0), DecisionRecord("f2", "a2", "t", "i", "control", 0),
...       DecisionRecord("f3", "a1", "t", "i", "control", 5 * DAY)]
>>> subjects, gone = retention_subjects(ds, {"a2": [30 * DAY]}, until=100 * DAY)
>>> [(s.account_id, s.arm, s.days, s.churned) for s in subjects], gone
([('a1', 'treated', 100.0, False), ('a2', 'control', 30.0, True)], 0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from interventions.measurement.decisions import MEASURED_ARMS, DecisionRecord
from interventions.measurement.stats import (
    Z95,
    SurvivalCurve,
    SurvivalDifference,
    kaplan_meier,
    survival_difference,
)
from schemas.timefmt import US_PER_DAY

__all__ = ["RetentionSubject", "RetentionByArm", "retention_subjects", "retention_by_arm"]


@dataclass(frozen=True, slots=True)
class RetentionSubject:
    """One account in the survival analysis: arm, start (µs), days followed, whether it churned."""

    account_id: str
    arm: str
    start: int
    days: float
    churned: bool


@dataclass(frozen=True, slots=True)
class RetentionByArm:
    """Kaplan–Meier curves of the treated and control accounts and their difference at ``horizon_days``."""

    horizon_days: float
    treated: SurvivalCurve
    control: SurvivalCurve
    difference: SurvivalDifference

    def to_json(self, grid_step_days: float = 1.0, z: float = Z95) -> dict:
        def curve(km: SurvivalCurve) -> dict:
            end = max(self.horizon_days, km.longest_followup)
            points = []
            t = 0.0
            while t <= end + 1e-9:
                p = km.at(t)
                ci = p.interval(z)
                points.append({"day": t, "survival": p.survival, "low": ci.low, "high": ci.high, "at_risk": p.at_risk})
                t += grid_step_days
            return {"accounts": km.subjects, "churned": km.churned, "points": points}

        d = self.difference
        return {
            "horizon_days": self.horizon_days,
            "treated": curve(self.treated),
            "control": curve(self.control),
            "at_horizon": {
                "treated": d.a.survival, "control": d.b.survival,
                "treated_at_risk": d.a.at_risk, "control_at_risk": d.b.at_risk,
                "difference": d.difference,
                "interval": None if d.interval is None else d.interval.to_json(),
                "reason": d.reason,
            },
        }


def retention_subjects(decisions: Iterable[DecisionRecord], cancellations: Mapping[str, Sequence[int]],
                       until: int) -> tuple[list[RetentionSubject], int]:
    """One subject per account with a measured decision before ``until``, sorted by account,
    and how many accounts were left out because they had canceled before their first decision."""
    first: dict[str, DecisionRecord] = {}
    for d in decisions:
        if not d.measured or d.decided_at >= until:
            continue
        best = first.get(d.account_id)
        if best is None or (d.decided_at, d.firing_id) < (best.decided_at, best.firing_id):
            first[d.account_id] = d
    out = []
    gone = 0
    for account, d in sorted(first.items()):
        if any(ts < d.decided_at for ts in cancellations.get(account, ())):
            gone += 1
            continue
        churn = min((ts for ts in cancellations.get(account, ()) if d.decided_at <= ts < until), default=None)
        end = churn if churn is not None else until
        out.append(RetentionSubject(account, d.arm, d.decided_at, (end - d.decided_at) / US_PER_DAY, churn is not None))
    return out, gone


def retention_by_arm(subjects: Sequence[RetentionSubject], horizon_days: float = 90.0,
                     minimum_at_risk: int = 10) -> RetentionByArm:
    """The two curves and their difference (treated − control) at the horizon."""
    curves = {}
    for arm in MEASURED_ARMS:
        mine = [s for s in subjects if s.arm == arm]
        curves[arm] = kaplan_meier([s.days for s in mine], [s.churned for s in mine])
    diff = survival_difference(curves["treated"], curves["control"], horizon_days, minimum_at_risk)
    return RetentionByArm(horizon_days, curves["treated"], curves["control"], diff)
