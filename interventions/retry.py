"""Exponential backoff with full jitter between delivery attempts.

Attempt ``n`` (1-based) that failed is followed by a pause drawn uniformly
from ``[0, min(cap, base * 2**(n-1))]``. Full jitter spreads the retries of
many commands that failed together (a receiver's outage) instead of sending
them back in synchronized waves.

>>> import random
>>> b = Backoff(base_s=0.5, cap_s=4.0, rng=random.Random(1))
>>> [round(b.ceiling(n), 2) for n in (1, 2, 3, 4, 5)]
[0.5, 1.0, 2.0, 4.0, 4.0]
>>> all(0 <= b.pause(n) <= b.ceiling(n) for n in range(1, 10))
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """Pauses between attempts; ``rng`` is injectable so tests are reproducible."""

    base_s: float = 0.5
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self, failed_attempt: int) -> float:
        return min(self.cap_s, self.base_s * (2 ** (failed_attempt - 1)))

    def pause(self, failed_attempt: int) -> float:
        return self.rng.uniform(0.0, self.ceiling(failed_attempt))
