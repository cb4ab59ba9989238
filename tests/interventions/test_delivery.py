"""``deliver_with_retries``: expiry, rate limit and retries around one channel call (fake clocks, no network)."""

from __future__ import annotations

from interventions.delivery import deliver_with_retries
from interventions.errors import DeliveryError
from interventions.ratelimit import TokenBucket
from interventions.retry import Backoff


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class _Recorder:
    name = "mail"

    def __init__(self, clock: _Clock, fail_first: int = 0) -> None:
        self.clock, self.sent, self.fail_first = clock, [], fail_first

    def deliver(self, command, body):
        if self.fail_first:
            self.fail_first -= 1
            raise DeliveryError("http_503", "busy", retryable=True)
        self.sent.append((command, self.clock.now))
        return "ok"


def test_a_command_that_expires_while_waiting_for_the_rate_limit_is_not_sent():
    clock = _Clock()
    bucket = TokenBucket(rate=1 / 60, clock=clock, sleep=clock.sleep)  # rate_limit: 1/m, one token at start
    channel = _Recorder(clock)
    outcomes = []
    for i in range(3):
        expires = clock.now + 30  # each still has 30 s to live when its turn comes
        report = deliver_with_retries(channel, f"cmd{i}", b"", max_attempts=3, backoff=Backoff(0, 0),
                                      expires_at=expires, limiter=bucket, clock=clock, sleep=clock.sleep)
        outcomes.append(report.outcome)
        assert all(at < expires for _cmd, at in channel.sent if _cmd == f"cmd{i}")
    assert outcomes == ["delivered", "expired", "expired"]
    assert [cmd for cmd, _at in channel.sent] == ["cmd0"]


def test_retries_then_delivers_and_counts_attempts():
    clock = _Clock()
    channel = _Recorder(clock, fail_first=2)
    retried = []
    report = deliver_with_retries(channel, "cmd", b"", max_attempts=3, backoff=Backoff(0.5, 4.0),
                                  expires_at=clock.now + 3600, clock=clock, sleep=clock.sleep, on_retry=retried.append)
    assert report.outcome == "delivered" and report.attempts == 3 and len(retried) == 2
