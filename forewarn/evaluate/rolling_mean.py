"""The baseline the drop-off model has to beat: a plain rolling-mean threshold rule.

Per account, the share of active days in the last ``recent_days`` days is
compared with the share in the ``prior_days`` days before them; when it falls
below ``ratio`` × the prior share, the rule fires. It fires again only after
the recent share is back to ``recover_ratio`` × the share it fired against.
No learning, hand-picked numbers: what a team would write first.

It is fed the same account-days as the model, in the same run
(:class:`~detectors.online.detector.DropOffDetector`'s ``on_day`` hook), so
both see exactly the same data.

>>> rule = RollingMeanRule(recent_days=2, prior_days=4, ratio=0.5)
>>> for day, active in enumerate([1, 1, 1, 1, 0, 0, 0]):
...     rule.observe("a", day, {"day_active": active}, 0.0)
>>> [(f.account_id, f.fired_at // 86_400_000_000) for f in rule.firings]
[('a', 6)]
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.firing import Firing
from schemas.timefmt import US_PER_DAY, format_rfc3339

__all__ = ["RollingMeanRule"]


class RollingMeanRule:
    """Recent active-day share below ``ratio`` × the prior share → fire (one open episode per account)."""

    trigger = "rolling_mean_baseline"

    def __init__(self, recent_days: int = 7, prior_days: int = 28, ratio: float = 0.5,
                 recover_ratio: float = 0.75) -> None:
        self.recent_days = recent_days
        self.prior_days = prior_days
        self.ratio = ratio
        self.recover_ratio = recover_ratio
        self._recent_mask = (1 << recent_days) - 1
        self._prior_mask = ((1 << prior_days) - 1) << recent_days
        self._all = (1 << (recent_days + prior_days)) - 1
        # account -> [active-day bitmask (bit 0 = latest day), days seen, open, baseline share]
        self._state: dict[str, list] = {}
        self.firings: list[Firing] = []

    def observe(self, account_id: str, day: int, x: Mapping[str, float], score: float | None) -> None:
        """One closed account-day (``score`` None: the account is not scored, e.g. canceled).

        An unscored day still moves the windows by a day (with its activity, usually none), so
        the windows keep covering the last ``recent_days`` and ``prior_days`` calendar days.
        """
        st = self._state.get(account_id)
        if st is None:
            st = self._state[account_id] = [0, 0, False, 0.0]
        mask = ((st[0] << 1) | (1 if x["day_active"] else 0)) & self._all
        st[0], st[1] = mask, st[1] + 1
        if score is None:
            st[2] = False
            return
        recent = (mask & self._recent_mask).bit_count() / self.recent_days
        if st[2]:
            if recent >= self.recover_ratio * st[3]:
                st[2] = False
            return
        if st[1] < self.recent_days + self.prior_days:
            return
        prior = (mask & self._prior_mask).bit_count() / self.prior_days
        if prior > 0 and recent < self.ratio * prior:
            st[2], st[3] = True, prior
            self.firings.append(Firing(self.trigger, account_id, (day + 1) * US_PER_DAY, {
                "day": format_rfc3339(day * US_PER_DAY)[:10],
                "recent_active_share": round(recent, 3),
                "prior_active_share": round(prior, 3),
            }))
