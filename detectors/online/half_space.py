"""River's Half-Space Trees over each account's usage *relative to its own baseline*.

One model per partition learns what normal account-days look like. The
features are ratios of recent to long-run usage (activity, sessions, users,
features), the expected active days missed since the last activity, and the
recent ticket count, scaled online into [0, 1] by ``preprocessing.MinMaxScaler``
as ``anomaly.HalfSpaceTrees`` expects. Ratios keep a quiet account and a busy
one comparable; they are capped so one extreme value does not squash the
scaler's range for everyone else.

Half-space trees find *sparse* regions of feature space. A drop-off is not
always sparse — occasional accounts wander through low ratios all the time —
so on the simulator's declines this scorer is weaker than the per-account
:class:`~detectors.online.rate_drop.RateDropScorer`; it is kept as the
partition-level alternative and measured beside it (``forewarn evaluate``).

Memory per account: none (the model is the partition's).

>>> scorer = HalfSpaceTreesScorer(n_trees=10, height=4, window_size=50, seed=1, min_days=0)
>>> day = {"active_short": .8, "active_long": .8, "sessions_short": 2, "sessions_long": 2, "users_short": 1,
...        "users_long": 1, "features_short": 2, "features_long": 2, "days_since_active": 0, "tickets": 0,
...        "days_observed": 40, "day_active": 1}
>>> def usual(i):
...     j = i % 5 / 10
...     return dict(day, active_short=.6 + j / 2, sessions_short=1.6 + j, users_short=.8 + j / 2,
...                 features_short=1.5 + j, days_since_active=i % 2)
>>> for i in range(100):
...     scorer.learn_one(usual(i), [])
>>> gone = dict(day, active_short=.1, sessions_short=.2, users_short=.1, features_short=.2, days_since_active=9)
>>> scorer.score_one(gone, []) > scorer.score_one(usual(3), [])
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.online.base import DropScorer

__all__ = ["HalfSpaceTreesScorer", "relative_usage"]

_RATIO_CAP = 2.0
_MISSED_CAP = 14.0
_TICKETS_CAP = 5.0


def _ratio(recent: float, usual: float) -> float:
    if usual <= 0:
        return 1.0 if recent <= 0 else _RATIO_CAP
    return min(recent / usual, _RATIO_CAP)


def relative_usage(x: Mapping[str, float]) -> dict[str, float]:
    """The model's input: recent usage relative to the account's own long-run usage."""
    return {
        "active": _ratio(x["active_short"], x["active_long"]),
        "sessions": _ratio(x["sessions_short"], x["sessions_long"]),
        "users": _ratio(x["users_short"], x["users_long"]),
        "features": _ratio(x["features_short"], x["features_long"]),
        "missed_days": min(x["days_since_active"] * x["active_long"], _MISSED_CAP),
        "tickets": min(x["tickets"], _TICKETS_CAP),
    }


class HalfSpaceTreesScorer(DropScorer):
    """``MinMaxScaler | HalfSpaceTrees`` on :func:`relative_usage`; one model per partition.

    Parameters are River's (``n_trees``, ``height``, ``window_size``, ``seed``) plus
    ``min_days``, the history an account needs before it is scored or learned from.
    """

    name = "half_space_trees"

    def __init__(self, n_trees: int = 10, height: int = 8, window_size: int = 1000, seed: int = 42,
                 min_days: int = 28) -> None:
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self.min_days = min_days
        # River's anomaly package costs ~0.7 s to import (scipy.stats): only a configured scorer pays it
        from river import anomaly, compose, preprocessing

        self._model = compose.Pipeline(
            preprocessing.MinMaxScaler(),
            anomaly.HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=seed),
        )
        self._learned = 0

    def score_one(self, x: Mapping[str, float], memory: list[float]) -> float:
        # Before the first lesson River's scaler would create its per-feature entries while
        # scoring; the trees score 0 then anyway, and scoring stays free of side effects.
        if x["days_observed"] < self.min_days or not self._learned:
            return 0.0
        return float(self._model.score_one(relative_usage(x)))

    def learn_one(self, x: Mapping[str, float], memory: list[float]) -> None:
        if x["days_observed"] >= self.min_days:
            self._model.learn_one(relative_usage(x))
            self._learned += 1

    def baseline(self, x: Mapping[str, float]) -> dict[str, Any]:
        return {
            "active_days_per_week": round(7 * x["active_long"], 2),
            "sessions_per_day": round(x["sessions_long"], 2),
            "active_users_per_day": round(x["users_long"], 2),
            "relative_usage": {k: round(v, 3) for k, v in relative_usage(x).items()},
        }

    def params(self) -> dict[str, Any]:
        return {"n_trees": self.n_trees, "height": self.height, "window_size": self.window_size,
                "seed": self.seed, "min_days": self.min_days}
