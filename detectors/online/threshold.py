"""A threshold learned online: a high quantile of the scores the partition has seen.

The same idea as River's ``anomaly.QuantileFilter``, kept apart from the
scorer so that scoring and deciding stay separate: the threshold is River's
running quantile (``stats.Quantile``, the P² estimator) of the scores of
accounts that are *not* already in a drop-off episode — the accounts that
could newly fire — so an episode's own high scores do not raise the bar for
everyone else. ``q`` is therefore an alarm budget: about ``1 - q`` of armed
account-days exceed it. Until ``min_scores`` scores have been seen the
threshold is unknown (``value`` is None) and nothing fires: the warm-up.
During the warm-up the running ``estimate`` still keeps the accounts above it
out of the armed population (their episodes open without firing); otherwise
the accounts that had simply stopped would fill the upper tail, push the
threshold up, stay armed because nothing fires, and push it further.

Updates come in batches of one closed day, in account order (the detector's
job), and a day's decisions are all taken against the value from before it.

>>> import random
>>> rnd = random.Random(7)
>>> th = QuantileThreshold(q=0.99, min_scores=500)
>>> for _ in range(499):
...     th.update(rnd.expovariate(1.0))
>>> th.value is None, th.exceeds(100.0)
(True, False)
>>> for _ in range(20_000):
...     th.update(rnd.expovariate(1.0))
>>> 4.0 < th.value < 5.2  # the true 99th percentile of Exp(1) is 4.6
True
"""

from __future__ import annotations

__all__ = ["QuantileThreshold"]


class QuantileThreshold:
    """The running ``q``-quantile of the scores seen, known once ``min_scores`` were seen.

    Parameters
    ----------
    q
        Quantile level in (0, 1); ``1 - q`` is the share of scores expected above the threshold.
    min_scores
        Warm-up: how many scores must be seen before the threshold is trusted.
    """

    def __init__(self, q: float = 0.9985, min_scores: int = 2000) -> None:
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile q must be between 0 and 1 (exclusive), got {q}")
        if min_scores < 1:
            raise ValueError(f"min_scores must be >= 1, got {min_scores}")
        self.q = q
        self.min_scores = min_scores
        from river import stats  # imported here: every CLI command loads this module, few use it

        self._quantile = stats.Quantile(q)
        self.seen = 0

    def update(self, score: float) -> None:
        self._quantile.update(score)
        self.seen += 1

    @property
    def value(self) -> float | None:
        """The learned threshold, or None during warm-up."""
        if self.seen < self.min_scores:
            return None
        return self._quantile.get()

    @property
    def estimate(self) -> float | None:
        """The running quantile even during warm-up (None before any score): used to keep the
        accounts already above it out of the learning, never to fire."""
        return self._quantile.get() if self.seen else None

    def exceeds(self, score: float) -> bool:
        """True when the threshold is known and ``score`` is above it."""
        value = self.value
        return value is not None and score > value

    def __repr__(self) -> str:
        return f"QuantileThreshold(q={self.q}, min_scores={self.min_scores}, seen={self.seen}, value={self.value})"
