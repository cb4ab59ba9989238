"""An account's usage profile: a few exponentially weighted statistics, updated once per UTC day.

When a day closes, its counts are folded into decayed sums at two horizons
(short and long half-lives, in days) for four daily series: active (0/1),
sessions, distinct features used, active users. Failed payments and tickets
are kept as decayed *counts* (about "how many in the last month"). Nothing
else is kept: no raw history, so the state of an account is a couple of
dozen numbers whatever its volume.

An exponentially weighted mean here is the weighted average of the days seen
so far with weight ``λ**age`` (``λ = 2 ** (-1 / half_life)``), normalised by
the weights' sum, so a young account's mean is an honest mean of the days it
has, not biased toward zero::

    mean_n = Σ_j λ**(n-1-j) x_j  /  Σ_j λ**(n-1-j)       (j = 0 .. n-1)

The decayed sum ``Σ λ**(n-1-j) x_j`` is updated in place (``s = λ s + x``)
and the weights' sum depends only on ``n``, so it is not stored.

>>> h = Horizons(short_days=7, long_days=28)
>>> p = ActivityProfile(first_day=100)
>>> for active in [1, 1, 1, 0]:
...     p.fold(h, {"day_active": active, "day_sessions": 2 * active, "day_features": active,
...                "day_users": active, "day_payments_failed": 0, "day_tickets": 0})
>>> f = p.features(h)
>>> round(f["active_long"], 3), f["days_since_active"], f["days_observed"]
(0.741, 1, 4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Horizons", "ActivityProfile", "SERIES", "FEATURE_NAMES"]

#: The daily series kept at both horizons, in storage order.
SERIES = ("active", "sessions", "features", "users")
#: The names ``ActivityProfile.features`` returns, in order.
FEATURE_NAMES = tuple(f"{s}_{h}" for s in SERIES for h in ("short", "long")) + (
    "days_since_active", "trend", "payments_failed", "tickets", "days_observed")


@dataclass(frozen=True, slots=True)
class Horizons:
    """Half-lives in days: ``short`` and ``long`` for the activity means, ``counts`` for payments and tickets."""

    short_days: float = 7.0
    long_days: float = 56.0
    counts_days: float = 30.0
    #: Daily decay factors (short, long, counts), derived once.
    decays: tuple[float, float, float] = field(init=False, repr=False, compare=False)
    #: ``weights(n)`` by n: every account of a partition shares the few values of n, and the
    #: weights are worked out for each account every day (a cache, not state: never compared or stored).
    _weights: dict[int, tuple[float, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.short_days < self.long_days:
            raise ValueError(f"half-lives must satisfy 0 < short ({self.short_days}) < long ({self.long_days})")
        if self.counts_days <= 0:
            raise ValueError(f"counts half-life must be > 0, got {self.counts_days}")
        object.__setattr__(self, "decays", (2.0 ** (-1.0 / self.short_days), 2.0 ** (-1.0 / self.long_days),
                                            2.0 ** (-1.0 / self.counts_days)))
        object.__setattr__(self, "_weights", {})

    def weights(self, n: int) -> tuple[float, float]:
        """The sums of the weights of ``n`` days at the short and long horizons (infinite for n = 0)."""
        w = self._weights.get(n)
        if w is None:
            w = self._weights[n] = ((_weight(self.decays[0], n), _weight(self.decays[1], n)) if n
                                    else (math.inf, math.inf))
        return w


def _weight(decay: float, n: int) -> float:
    """Σ_{k<n} decay**k: the sum of the weights of n days."""
    return (1.0 - decay ** n) / (1.0 - decay)


@dataclass(slots=True)
class ActivityProfile:
    """Decayed sums of one account's daily usage; ``fold`` one closed day at a time, oldest first.

    ``first_day``: UTC day number of the first day folded; ``days``: how many
    days were folded; ``last_active_day``: the last day with activity (None before any).
    """

    first_day: int
    days: int = 0
    last_active_day: int | None = None
    sums: list[float] = field(default_factory=lambda: [0.0] * (2 * len(SERIES)))
    payments_failed: float = 0.0
    tickets: float = 0.0

    @property
    def last_day(self) -> int:
        """The last day folded (``first_day - 1`` before any)."""
        return self.first_day + self.days - 1

    def fold(self, horizons: Horizons, day: dict[str, int]) -> None:
        """Fold the next day's counts (``DayTally.values()``; all zero for a silent day)."""
        self.fold_counts(horizons, day["day_active"], day["day_sessions"], day["day_features"], day["day_users"],
                         day["day_payments_failed"], day["day_tickets"])

    def fold_counts(self, horizons: Horizons, active: int, sessions: int, features: int, users: int,
                    payments_failed: int, tickets: int) -> None:
        """``fold`` with the day's counts as arguments (the detector's daily loop: no mapping to build)."""
        short, long_, counts = horizons.decays
        s = self.sums
        # storage order: (short, long) for each of SERIES
        self.sums = [short * s[0] + active, long_ * s[1] + active, short * s[2] + sessions, long_ * s[3] + sessions,
                     short * s[4] + features, long_ * s[5] + features, short * s[6] + users, long_ * s[7] + users]
        self.payments_failed = counts * self.payments_failed + payments_failed
        self.tickets = counts * self.tickets + tickets
        if active:
            self.last_active_day = self.first_day + self.days
        self.days += 1

    def fold_silent(self, horizons: Horizons) -> None:
        """``fold`` of a day with no events: every sum only decays (adding the zeros changes no float)."""
        short, long_, counts = horizons.decays
        s = self.sums
        self.sums = [short * s[0], long_ * s[1], short * s[2], long_ * s[3],
                     short * s[4], long_ * s[5], short * s[6], long_ * s[7]]
        self.payments_failed = counts * self.payments_failed
        self.tickets = counts * self.tickets
        self.days += 1

    def mean(self, horizons: Horizons, series: str, horizon: str) -> float:
        """The exponentially weighted daily mean of ``series`` at ``horizon`` ("short" or "long")."""
        if self.days == 0:
            return 0.0
        i = 2 * SERIES.index(series) + (horizon == "long")
        decay = horizons.decays[horizon == "long"]
        return self.sums[i] / _weight(decay, self.days)

    def features(self, horizons: Horizons) -> dict[str, float]:
        """The profile as named features (see ``FEATURE_NAMES``); 0.0 means before anything is known."""
        days = self.days
        w_short, w_long = horizons.weights(days)
        s = self.sums
        active_short, active_long = s[0] / w_short, s[1] / w_long
        last = self.last_active_day
        return {  # in FEATURE_NAMES order
            "active_short": active_short, "active_long": active_long,
            "sessions_short": s[2] / w_short, "sessions_long": s[3] / w_long,
            "features_short": s[4] / w_short, "features_long": s[5] / w_long,
            "users_short": s[6] / w_short, "users_long": s[7] / w_long,
            "days_since_active": days if last is None else self.first_day + days - 1 - last,
            "trend": active_short / active_long - 1.0 if active_long > 0 else 0.0,
            "payments_failed": self.payments_failed,
            "tickets": self.tickets,
            "days_observed": days,
        }

    def encode(self) -> list[Any]:
        return [self.first_day, self.days, self.last_active_day, list(self.sums), self.payments_failed, self.tickets]

    @classmethod
    def decode(cls, data: list[Any]) -> "ActivityProfile":
        first, days, last, sums, failed, tickets = data
        return cls(int(first), int(days), None if last is None else int(last), [float(s) for s in sums],
                   float(failed), float(tickets))
