"""One command's delivery attempts: rate limit, send, classify, back off, give up — the same for every channel.

The dispatcher runs this on a delivery thread for each command it has
claimed. It never raises for an anticipated failure: it returns a
:class:`DeliveryReport` whose ``outcome`` becomes the receipt, and whose
``reason`` becomes the DLQ ``reason`` header when delivery failed:

- ``retries_exhausted`` — every one of ``max_attempts`` attempts failed in a
  way another attempt could fix (timeouts, 5xx, 429, SMTP 4xx, DNS);
- the channel's own code (``rejected``, ``unsafe_target``, ``no_recipient``,
  ``redirect``...) — a failure no retry can fix, after one attempt.

A command that expires while it is being retried stops with ``expired``.
A bug in a channel (any other exception) propagates: the worker should crash
loudly rather than record a false outcome.

>>> import random
>>> from interventions.retry import Backoff
>>> class Flaky:
...     name = "hook"
...     def __init__(self): self.calls = 0
...     def deliver(self, command, body):
...         self.calls += 1
...         if self.calls < 3:
...             raise DeliveryError("http_5xx", "hook: HTTP 503", retryable=True)
...         return "HTTP 200"
>>> report = deliver_with_retries(Flaky(), None, b"", max_attempts=5, backoff=Backoff(0.01, 0.01, random.Random(1)),
...                               expires_at=float("inf"), sleep=lambda s: None)
>>> report.outcome, report.attempts, report.detail
('delivered', 3, 'HTTP 200')
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interventions.errors import DeliveryError
from interventions.ratelimit import TokenBucket
from interventions.retry import Backoff

__all__ = ["DeliveryReport", "deliver_with_retries"]


@dataclass(frozen=True)
class DeliveryReport:
    """How one delivery ended: ``delivered``, ``failed`` (``reason`` for the DLQ) or ``expired``."""

    outcome: str
    attempts: int
    reason: str = ""
    detail: str = ""
    seconds: float = 0.0


def deliver_with_retries(channel: Any, command: Any, body: bytes, *, max_attempts: int, backoff: Backoff,
                         expires_at: float, limiter: TokenBucket | None = None,
                         clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                         on_retry: Callable[[DeliveryError], None] | None = None) -> DeliveryReport:
    """Deliver ``command`` through ``channel``; ``expires_at`` is in Unix seconds (wall clock)."""
    started = time.monotonic()
    attempts = 0
    while True:
        if clock() >= expires_at:
            return DeliveryReport("expired", attempts, "", "expired before it could be delivered",
                                  time.monotonic() - started)
        if limiter is not None:
            limiter.acquire()
            if clock() >= expires_at:  # the wait for the rate limit can outlast the command
                return DeliveryReport("expired", attempts, "", "expired while waiting for the channel's rate limit",
                                      time.monotonic() - started)
        attempts += 1
        try:
            detail = channel.deliver(command, body)
        except DeliveryError as exc:
            if not exc.retryable:
                return DeliveryReport("failed", attempts, exc.reason, exc.detail, time.monotonic() - started)
            if attempts >= max_attempts:
                return DeliveryReport("failed", attempts, "retries_exhausted",
                                      f"{exc.reason} on attempt {attempts} of {max_attempts}: {exc.detail}",
                                      time.monotonic() - started)
            if on_retry is not None:
                on_retry(exc)
            sleep(backoff.pause(attempts))
            continue
        return DeliveryReport("delivered", attempts, "", detail, time.monotonic() - started)
