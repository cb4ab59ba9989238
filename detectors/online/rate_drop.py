"""Per-account drift detection of a drop in the daily activity rate: a log-likelihood CUSUM.

Each account has its own baseline: ``p0``, the long-horizon weighted share of
days it was active (from its profile). Every closed day adds the log-likelihood
ratio of "the account now behaves at ``drop_ratio`` × its baseline" against
"it still behaves at its baseline":

- an active day adds ``log(drop_ratio)`` (negative: evidence against a drop);
- a silent day adds ``log((1 - drop_ratio·p0) / (1 - p0))`` (positive, and the
  larger the more habitual the account — a silent day means little for an
  account active one day a week, a lot for one active every day);
- a day with an inbound ticket adds ``log(ticket_ratio)``, a day without one a
  small negative amount, against the partition's own learned ticket rate.

The score is Page's CUSUM of these steps, ``S = max(0, S + step)``: it grows
while the evidence for a drop accumulates and falls back toward 0 with normal
use. Unlike River's ``drift.PageHinkley`` on the raw series, each step is
scaled by the account's own variance (via ``p0``), so one quantile threshold
suits habitual and occasional accounts alike — a plain Page-Hinkley on the
activity series flagged mostly accounts that had simply stopped (see
``docs/benchmarks.md``). The score says how strong the evidence is; the
threshold that turns it into a firing is learned (``threshold.py``).

Memory per account: one float, ``S``.

>>> scorer = RateDropScorer(min_days=2)
>>> mem = scorer.new_memory()
>>> habit = {"active_long": 0.9, "days_observed": 30, "day_active": 0, "day_tickets": 0}
>>> scores = []
>>> for _ in range(3):
...     scores.append(round(scorer.score_one(habit, mem), 2))
...     scorer.learn_one(habit, mem)
>>> scores  # three silent days of a daily user: the evidence adds up
[1.69, 3.39, 5.08]
>>> scorer.score_one(dict(habit, active_long=0.15), [0.0]) < 0.1  # one silent day of an occasional user
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from detectors.online.base import DropScorer

__all__ = ["RateDropScorer"]


class RateDropScorer(DropScorer):
    """CUSUM of "activity fell to ``drop_ratio`` × baseline" (plus ticket evidence), per account.

    Parameters
    ----------
    drop_ratio
        The drop the test looks for: the alternative rate as a share of the baseline.
    ticket_ratio
        How much likelier an inbound ticket is for an account in decline; 1 ignores tickets.
    min_days
        Days of history before the baseline is trusted (the score is 0 until then).
    floor
        The baseline is clipped to ``[floor, 1 - floor]`` so no single day is infinitely surprising.
    prior_ticket_rate, prior_weight
        Starting point of the learned ticket-day rate, and how many account-days it counts as.
    """

    name = "rate_drop"

    def __init__(self, drop_ratio: float = 0.5, ticket_ratio: float = 3.0, min_days: int = 28,
                 floor: float = 0.02, prior_ticket_rate: float = 0.005, prior_weight: float = 1000.0) -> None:
        if not 0 < drop_ratio < 1:
            raise ValueError(f"drop_ratio must be between 0 and 1, got {drop_ratio}")
        if ticket_ratio < 1:
            raise ValueError(f"ticket_ratio must be >= 1, got {ticket_ratio}")
        self.drop_ratio = drop_ratio
        self.ticket_ratio = ticket_ratio
        self.min_days = min_days
        self.floor = floor
        self.prior_ticket_rate = prior_ticket_rate
        self.prior_weight = prior_weight
        self._ticket_days = prior_ticket_rate * prior_weight
        self._account_days = prior_weight
        self._log_drop = math.log(drop_ratio)

    def new_memory(self) -> list[float]:
        return [0.0]

    @property
    def ticket_rate(self) -> float:
        """The learned share of account-days with an inbound ticket."""
        return self._ticket_days / self._account_days

    def step(self, x: Mapping[str, float]) -> float:
        """The day's log-likelihood ratio, drop against no drop."""
        p0 = min(max(x["active_long"], self.floor), 1.0 - self.floor)
        if x["day_active"]:
            llr = self._log_drop
        else:
            llr = math.log((1.0 - self.drop_ratio * p0) / (1.0 - p0))
        if self.ticket_ratio > 1.0:
            q = self.ticket_rate
            if x["day_tickets"]:
                llr += math.log(self.ticket_ratio)
            elif q * self.ticket_ratio < 1.0:
                llr += math.log((1.0 - self.ticket_ratio * q) / (1.0 - q))
        return llr

    def score_one(self, x: Mapping[str, float], memory: list[float]) -> float:
        if x["days_observed"] < self.min_days:
            return 0.0
        return max(0.0, memory[0] + self.step(x))

    def learn_one(self, x: Mapping[str, float], memory: list[float]) -> None:
        memory[0] = self.score_one(x, memory)
        self._ticket_days += 1 if x["day_tickets"] else 0
        self._account_days += 1

    def baseline(self, x: Mapping[str, float]) -> dict[str, Any]:
        p0 = x["active_long"]
        return {
            "active_days_per_week": round(7 * p0, 2),
            "recent_active_days_per_week": round(7 * x["active_short"], 2),
            "sessions_per_day": round(x["sessions_long"], 2),
            "active_users_per_day": round(x["users_long"], 2),
            "alternative_active_days_per_week": round(7 * p0 * self.drop_ratio, 2),
            "ticket_day_rate": round(self.ticket_rate, 5),
        }

    def params(self) -> dict[str, Any]:
        return {"drop_ratio": self.drop_ratio, "ticket_ratio": self.ticket_ratio, "min_days": self.min_days,
                "floor": self.floor, "prior_ticket_rate": self.prior_ticket_rate, "prior_weight": self.prior_weight}
