"""Scoring ``usage_drop`` firings against the truth: precision, recall, lead time, false-alarm rate.

Definitions (one firing is one drop-off episode of one account):

- a firing on a ``declining`` account at or after its decline started (and
  not after it canceled) is a *detection*; the account is *detected* by its
  first one, and its *lead* is the time from that firing to its cancellation
  (accounts still subscribed when the simulation ends have no lead);
- a firing on a ``healthy`` account, or on a declining one before its decline
  started, is a *false alarm*;
- a firing on an ``other_drop`` account (silence, cancellation, stalled
  onboarding) is a real drop that is not a decline: counted apart.

``precision`` = detections / (detections + false alarms); ``strict precision``
counts the other drops as wrong too. ``recall`` = detected / declining
accounts. The false-alarm rate is per 1,000 *healthy account-days* — days on
which a healthy account was scored and old enough to fire.

>>> from forewarn.evaluate.truth import AccountTruth
>>> D = 86_400_000_000
>>> truth = {"d": AccountTruth("d", "slow_decline", "declining", 10 * D, 50 * D),
...          "h": AccountTruth("h", "steady_power", "healthy", None, None)}
>>> s = score_firings("x", [Firing("u", "d", 30 * D), Firing("u", "h", 12 * D)], truth, healthy_account_days=1000)
>>> s.recall, s.precision, s.median_lead_days, s.false_alarms_per_1000
(1.0, 0.5, 20.0, 1.0)
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from forewarn.evaluate.truth import AccountTruth
from schemas.firing import Firing
from schemas.timefmt import US_PER_DAY

__all__ = ["DropOffScore", "score_firings"]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass(slots=True)
class DropOffScore:
    """One detector's result on one simulation."""

    name: str
    firings: int = 0
    declining_accounts: int = 0
    declining_churned: int = 0
    detected: int = 0
    detected_churned: int = 0
    detections: int = 0
    false_alarms: int = 0
    healthy_false_alarms: int = 0
    early_false_alarms: int = 0
    other_drop_firings: int = 0
    unknown_account_firings: int = 0
    healthy_account_days: int = 0
    leads_days: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return _ratio(self.detected, self.declining_accounts)

    @property
    def recall_churned(self) -> float | None:
        """Recall among declining accounts that canceled within the simulation."""
        return _ratio(self.detected_churned, self.declining_churned)

    @property
    def precision(self) -> float | None:
        return _ratio(self.detections, self.detections + self.false_alarms)

    @property
    def strict_precision(self) -> float | None:
        return _ratio(self.detections, self.firings)

    @property
    def median_lead_days(self) -> float | None:
        return statistics.median(self.leads_days) if self.leads_days else None

    def lead_quantiles(self) -> tuple[float, float] | None:
        """(25th, 75th) percentile of the lead in days."""
        if len(self.leads_days) < 2:
            return None
        q = statistics.quantiles(self.leads_days, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def share_lead_at_least_14d(self) -> float | None:
        return _ratio(sum(1 for d in self.leads_days if d >= 14), len(self.leads_days))

    @property
    def false_alarms_per_1000(self) -> float | None:
        """False alarms on healthy accounts per 1,000 healthy account-days."""
        return _ratio(1000 * self.healthy_false_alarms, self.healthy_account_days)

    def to_json(self) -> dict:
        return {
            "name": self.name, "firings": self.firings, "detections": self.detections,
            "declining_accounts": self.declining_accounts,
            "detected": self.detected, "recall": self.recall, "recall_churned": self.recall_churned,
            "precision": self.precision, "strict_precision": self.strict_precision,
            "median_lead_days": self.median_lead_days, "lead_quartiles_days": self.lead_quantiles(),
            "share_lead_at_least_14d": self.share_lead_at_least_14d,
            "false_alarms": self.false_alarms, "healthy_false_alarms": self.healthy_false_alarms,
            "early_false_alarms": self.early_false_alarms, "other_drop_firings": self.other_drop_firings,
            "healthy_account_days": self.healthy_account_days,
            "false_alarms_per_1000_healthy_account_days": self.false_alarms_per_1000,
            "unknown_account_firings": self.unknown_account_firings,
        }


def score_firings(name: str, firings: Iterable[Firing], truth: Mapping[str, AccountTruth],
                  healthy_account_days: int) -> DropOffScore:
    """Score one detector's firings (any order) against the truth."""
    s = DropOffScore(name, healthy_account_days=healthy_account_days)
    declining = [t for t in truth.values() if t.kind == "declining"]
    s.declining_accounts = len(declining)
    s.declining_churned = sum(1 for t in declining if t.churned_at_us is not None)
    first_detection: dict[str, int] = {}
    for f in sorted(firings, key=lambda f: (f.fired_at, f.account_id)):
        s.firings += 1
        t = truth.get(f.account_id)
        if t is None:
            s.unknown_account_firings += 1
            s.false_alarms += 1
        elif t.kind == "declining":
            assert t.decline_start_us is not None
            if f.fired_at < t.decline_start_us:
                s.early_false_alarms += 1
                s.false_alarms += 1
            elif t.churned_at_us is None or f.fired_at <= t.churned_at_us:
                s.detections += 1
                first_detection.setdefault(f.account_id, f.fired_at)
            else:
                s.other_drop_firings += 1  # after the cancellation: nothing left to save
        elif t.kind == "other_drop":
            s.other_drop_firings += 1
        else:
            s.healthy_false_alarms += 1
            s.false_alarms += 1
    s.detected = len(first_detection)
    for aid, fired_at in first_detection.items():
        churned = truth[aid].churned_at_us
        if churned is not None:
            s.detected_churned += 1
            s.leads_days.append((churned - fired_at) / US_PER_DAY)
    return s
