"""A token bucket: at most ``rate`` sends per second per channel, with bursts up to ``burst``.

Thread-safe; ``acquire`` blocks until a token is free, so the dispatcher's
delivery threads simply queue behind a slow channel's limit.

>>> clock = iter([0.0, 0.0, 0.0, 0.5]).__next__
>>> bucket = TokenBucket(rate=2.0, burst=1, clock=clock, sleep=lambda s: None)
>>> bucket.try_acquire(), bucket.try_acquire()
(True, False)
>>> bucket.try_acquire()   # half a second later one token has come back
True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst`` (default: one second's worth)."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_acquire(self) -> bool:
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    def acquire(self) -> float:
        """Take a token, waiting for one if needed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                pause = (1 - self._tokens) / self.rate
            self._sleep(pause)
            waited += pause
