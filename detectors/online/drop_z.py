"""How far below its own baseline an account's recent activity is, in standard errors: an EWMA chart.

Each account's profile holds two exponentially weighted shares of active
days: ``active_short`` (recent) and ``active_long`` (its baseline). If the
account still behaved at its baseline rate ``p``, the short share would
scatter around ``p`` with variance ``p (1 - p) · f``, where ``f`` is the sum of
the squared normalised weights of the days it has (``α / (2 - α)`` for a long
history, ``α = 1 - λ``). The score is the standardised shortfall::

    z = (p - short) / sqrt(p (1 - p) · f)

the statistic of an EWMA control chart for a proportion, per account. It
needs no memory beyond the profile, and it is scaled by each account's own
variance: a week without activity is a strong signal from an account active
every day and a weak one from an account active once a week, so one
threshold, learned over the whole partition, suits both.

>>> scorer = DropZScorer(short_half_life_days=7, min_days=28)
>>> daily = {"active_long": 0.85, "active_short": 0.85, "days_observed": 60}
>>> round(scorer.score_one(daily, []), 2), round(scorer.score_one(dict(daily, active_short=0.3), []), 2)
(0.0, 6.91)
>>> weekly = {"active_long": 0.15, "active_short": 0.0, "days_observed": 60}
>>> round(scorer.score_one(weekly, []), 2)  # gone quiet, but it was rarely active anyway
1.88
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from detectors.online.base import DropScorer

__all__ = ["DropZScorer"]

#: ``variance_factor`` by (decay, days): every account is scored every day with one of a few
#: hundred values of days; kept out of the scorer so its pickle (the checkpoint) stays as it was.
_VARIANCE_FACTORS: dict[tuple[float, int], float] = {}


class DropZScorer(DropScorer):
    """Standardised shortfall of the recent active-day share below the account's baseline share.

    Parameters
    ----------
    short_half_life_days
        Half-life of ``active_short`` in the account profiles (the variance depends on it).
    min_days
        Days of history before the baseline is trusted (the score is 0 until then).
    floor
        The baseline share is clipped to ``[floor, 1 - floor]``.
    """

    name = "drop_z"
    stateless = True

    def __init__(self, short_half_life_days: float = 7.0, min_days: int = 28, floor: float = 0.02) -> None:
        self.short_half_life_days = short_half_life_days
        self.min_days = min_days
        self.floor = floor
        self._decay = 2.0 ** (-1.0 / short_half_life_days)

    def variance_factor(self, days: float) -> float:
        """Σ w² / (Σ w)² of the short-horizon weights over ``days`` days."""
        key = (self._decay, max(1, int(days)))
        f = _VARIANCE_FACTORS.get(key)
        if f is None:
            lam, n = key
            f = ((1.0 - lam ** (2 * n)) / (1.0 - lam * lam)) / ((1.0 - lam ** n) / (1.0 - lam)) ** 2
            _VARIANCE_FACTORS[key] = f
        return f

    def score_one(self, x: Mapping[str, float], memory: list[float]) -> float:
        days = x["days_observed"]
        if days < self.min_days:
            return 0.0
        floor = self.floor
        p = x["active_long"]
        # min(max(p, floor), 1 - floor), written out: this runs for every account every day
        p = floor if p < floor else (1.0 - floor if p > 1.0 - floor else p)
        shortfall = p - x["active_short"]
        if shortfall <= 0.0:
            return 0.0
        return shortfall / math.sqrt(p * (1.0 - p) * self.variance_factor(days))

    def learn_one(self, x: Mapping[str, float], memory: list[float]) -> None:
        """Nothing to learn beyond the profile, which the detector keeps."""

    def baseline(self, x: Mapping[str, float]) -> dict[str, Any]:
        return {
            "active_days_per_week": round(7 * x["active_long"], 2),
            "recent_active_days_per_week": round(7 * x["active_short"], 2),
            "sessions_per_day": round(x["sessions_long"], 2),
            "active_users_per_day": round(x["users_long"], 2),
        }

    def params(self) -> dict[str, Any]:
        return {"short_half_life_days": self.short_half_life_days, "min_days": self.min_days, "floor": self.floor}
