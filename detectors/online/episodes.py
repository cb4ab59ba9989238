"""The drop-off policy: when a score becomes a firing, and when an account may fire again.

Detectors score; this decides. An account fires a ``usage_drop`` when

- it is *armed* (no drop-off episode open),
- it has been watched for at least ``min_days`` days (the per-account warm-up),
- the threshold is learned (the partition-wide warm-up), and
- the day's score is above the threshold.

Firing opens an episode and records the account's baseline (its long-run
share of active days). While the episode is open the account does not fire
again. It is re-armed once usage has *recovered*: over at least
``min_recovery_days`` days since the firing, its weighted share of active
days (half-life ``recovery_half_life_days``, counted from the firing only) is
back to ``recover_ratio`` × the baseline. Re-armed, it needs new evidence to
fire again (its scorer memory is cleared). A canceled subscription closes the
episode: the customer left.

>>> policy = EpisodePolicy(recover_ratio=0.75, min_days=28, min_recovery_days=3)
>>> ep = Episode()
>>> policy.should_fire(ep, score=9.0, threshold=6.0, days_observed=40)
True
>>> policy.open(ep, day=20_000, baseline=0.8)
>>> policy.should_fire(ep, score=12.0, threshold=6.0, days_observed=41)  # already open
False
>>> for active in (0, 0, 1):
...     policy.observe(ep, active)
>>> policy.recovered(ep)  # one active day of three since the firing: not yet 75 % of 0.8
False
>>> policy.observe(ep, 1); policy.observe(ep, 1); policy.recovered(ep)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Episode", "EpisodePolicy"]


@dataclass(slots=True)
class Episode:
    """One account's drop-off episode, open since ``opened_day``.

    ``baseline``: the account's share of active days when it fired;
    ``since_sum``/``since_days``: decayed sum and count of its days since then.
    """

    open: bool = False
    opened_day: int = 0
    baseline: float = 0.0
    since_sum: float = 0.0
    since_days: int = 0

    def encode(self) -> list[Any]:
        return [1 if self.open else 0, self.opened_day, self.baseline, self.since_sum, self.since_days]

    @classmethod
    def decode(cls, data: list[Any]) -> "Episode":
        return cls(bool(data[0]), int(data[1]), float(data[2]), float(data[3]), int(data[4]))


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
    """

    def __init__(self, recover_ratio: float = 0.75, min_days: int = 28, min_recovery_days: int = 7,
                 recovery_half_life_days: float = 7.0) -> None:
        if not 0.0 < recover_ratio <= 1.5:
            raise ValueError(f"recover_ratio must be in (0, 1.5], got {recover_ratio}")
        if min_recovery_days < 1:
            raise ValueError(f"min_recovery_days must be >= 1, got {min_recovery_days}")
        self.recover_ratio = recover_ratio
        self.min_days = min_days
        self.min_recovery_days = min_recovery_days
        self.recovery_half_life_days = recovery_half_life_days
        self._decay = 2.0 ** (-1.0 / recovery_half_life_days)

    def should_fire(self, episode: Episode, score: float, threshold: float | None, days_observed: float) -> bool:
        return (not episode.open and days_observed >= self.min_days
                and threshold is not None and score > threshold)

    def open(self, episode: Episode, day: int, baseline: float) -> None:
        episode.open, episode.opened_day, episode.baseline = True, day, baseline
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
        episode.open = False
        episode.since_sum, episode.since_days = 0.0, 0

    def params(self) -> dict[str, Any]:
        return {"recover_ratio": self.recover_ratio, "min_days": self.min_days,
                "min_recovery_days": self.min_recovery_days,
                "recovery_half_life_days": self.recovery_half_life_days}
