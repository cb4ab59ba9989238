"""The drop-off policy: when a score becomes a firing, and when an account may fire again.

Detectors score; this decides. An account fires a ``usage_drop`` when

- it is *armed* (no drop-off episode open),
- it has been watched for at least ``min_days`` days (the per-account warm-up),
- the threshold is learned (the partition-wide warm-up),
- the day's score is above the threshold, and
- its recent activity really is lower: its short-horizon share of active days
  is at least ``min_drop`` below its long-horizon share. A score says how
  *surprising* the recent days are; this says the drop is *large enough* to
  act on. Without it, a habitual account's few quiet days are surprising
  enough to fire, though its usage barely moved.

Firing opens an episode and records the account's baseline (its long-run
share of active days). While the episode is open the account does not fire
again. It is re-armed once usage has *recovered*: over at least
``min_recovery_days`` days since the firing, its weighted share of active
days (half-life ``recovery_half_life_days``, counted from the firing only) is
back to ``recover_ratio`` × the baseline. Re-armed, it needs new evidence to
fire again (its scorer memory is cleared). A canceled subscription closes the
episode: the customer left.

>>> policy = EpisodePolicy(recover_ratio=0.75, min_days=28, min_recovery_days=3, min_drop=0.4)
>>> ep = Episode()
>>> x = {"days_observed": 40, "active_short": 0.3, "active_long": 0.8}
>>> policy.should_fire(ep, 9.0, 6.0, x), policy.should_fire(ep, 9.0, 6.0, dict(x, active_short=0.6))
(True, False)
>>> policy.open(ep, day=20_000, baseline=0.8)
>>> policy.should_fire(ep, 12.0, 6.0, x)  # already open
False
>>> for active in (0, 0, 1):
...     policy.observe(ep, active)
>>> policy.recovered(ep)  # one active day of three since the firing: not yet 75 % of 0.8
False
>>> policy.observe(ep, 1); policy.observe(ep, 1); policy.recovered(ep)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Episode", "EpisodePolicy"]


@dataclass(slots=True)
class Episode:
    """One account's drop-off episode, open since ``opened_day``.

    ``baseline``: the account's share of active days when it fired;
    ``since_sum``/``since_days``: decayed sum and count of its days since then;
    ``shadow``: opened during the threshold's warm-up, without a firing (released when the
    threshold is trusted).
    """

    open: bool = False
    opened_day: int = 0
    baseline: float = 0.0
    since_sum: float = 0.0
    since_days: int = 0
    shadow: bool = False

    def encode(self) -> list[Any]:
        return [int(self.open) | int(self.shadow) << 1, self.opened_day, self.baseline, self.since_sum,
                self.since_days]

    @classmethod
    def decode(cls, data: list[Any]) -> "Episode":
        flags = int(data[0])
        return cls(bool(flags & 1), int(data[1]), float(data[2]), float(data[3]), int(data[4]), bool(flags & 2))


class EpisodePolicy:
    """At most one open drop-off episode per account; warm-ups before any firing.

    Parameters
    ----------
    recover_ratio
        Share of the baseline that activity since the firing must regain to re-arm the account.
    min_days
        Days an account must have been watched before it may fire.
    min_recovery_days
        Days since the firing before a recovery can count.
    recovery_half_life_days
        Half-life of the activity share measured since the firing.
    min_drop
        How far below its long-run share of active days the recent share must be (0.4: 40 % lower).
    """

    def __init__(self, recover_ratio: float = 0.75, min_days: int = 28, min_recovery_days: int = 7,
                 recovery_half_life_days: float = 7.0, min_drop: float = 0.4) -> None:
        if not 0.0 <= min_drop < 1.0:
            raise ValueError(f"min_drop must be in [0, 1), got {min_drop}")
        if not 0.0 < recover_ratio <= 1.5:
            raise ValueError(f"recover_ratio must be in (0, 1.5], got {recover_ratio}")
        if min_recovery_days < 1:
            raise ValueError(f"min_recovery_days must be >= 1, got {min_recovery_days}")
        self.recover_ratio = recover_ratio
        self.min_days = min_days
        self.min_recovery_days = min_recovery_days
        self.recovery_half_life_days = recovery_half_life_days
        self.min_drop = min_drop
        self._decay = 2.0 ** (-1.0 / recovery_half_life_days)

    def should_fire(self, episode: Episode, score: float, threshold: float | None, x: Mapping[str, float]) -> bool:
        """``x``: the account's features (``days_observed``, ``active_short``, ``active_long``)."""
        return (not episode.open and threshold is not None and score > threshold
                and x["days_observed"] >= self.min_days
                and x["active_short"] <= (1.0 - self.min_drop) * x["active_long"])

    def open(self, episode: Episode, day: int, baseline: float, shadow: bool = False) -> None:
        episode.open, episode.opened_day, episode.baseline, episode.shadow = True, day, baseline, shadow
        episode.since_sum, episode.since_days = 0.0, 0

    def observe(self, episode: Episode, day_active: int) -> None:
        """Count one more day of an open episode (1 if the account was active that day)."""
        if episode.open:
            episode.since_sum = self._decay * episode.since_sum + day_active
            episode.since_days += 1

    def recovered(self, episode: Episode) -> bool:
        """True when an open episode's account is back to ``recover_ratio`` × its baseline activity."""
        if not episode.open or episode.since_days < self.min_recovery_days:
            return False
        weight = (1.0 - self._decay ** episode.since_days) / (1.0 - self._decay)
        return episode.since_sum / weight >= self.recover_ratio * episode.baseline

    def close(self, episode: Episode) -> None:
        episode.open = episode.shadow = False
        episode.since_sum, episode.since_days = 0.0, 0

    def params(self) -> dict[str, Any]:
        return {"recover_ratio": self.recover_ratio, "min_days": self.min_days,
                "min_recovery_days": self.min_recovery_days,
                "recovery_half_life_days": self.recovery_half_life_days, "min_drop": self.min_drop}
