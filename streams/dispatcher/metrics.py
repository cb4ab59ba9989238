"""Prometheus metrics of the policy's decisions and the dispatcher's deliveries.

Labels are bounded: trigger, channel and reason names come from the config
and from fixed code lists; account and command ids never appear.

>>> from prometheus_client import CollectorRegistry
>>> m = DispatcherMetrics(CollectorRegistry())
>>> m.deliveries.labels(channel="hook", outcome="delivered").inc()
>>> b'forewarn_deliveries_total{channel="hook",outcome="delivered"} 1.0' in m.exposition()
True
>>> d = DecisionMetrics(CollectorRegistry())
>>> d.count([type("D", (), {"trigger": "payment_failing", "arm": "suppressed", "reason": "cooldown"})()])
>>> b'reason="cooldown"' in d.exposition()
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from schemas.receipt import OUTCOMES

__all__ = ["DispatcherMetrics", "DecisionMetrics", "DLQ_REASONS"]

#: Fixed reasons a command is dead-lettered for, besides the channels' own codes.
DLQ_REASONS = ("invalid_command", "unknown_channel", "retries_exhausted", "channel_error")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class DispatcherMetrics:
    """Deliveries by channel and outcome, retries, latency, the DLQ, and the claims that were in doubt."""

    def __init__(self, registry: CollectorRegistry, channels: Iterable[str] = ()):
        self.registry = registry
        self.consumed = Counter("forewarn_dispatcher_commands_consumed", "Command records read from Kafka.",
                                registry=registry)
        self.deferred = Counter("forewarn_dispatcher_commands_deferred",
                                "Commands a batch left for the next one when its time budget ran out (slow or "
                                "rate-limited channels); consumed again, never lost.", registry=registry)
        self.deliveries = Counter("forewarn_deliveries", "Receipts written, by channel and outcome.",
                                  ["channel", "outcome"], registry=registry)
        self.retries = Counter("forewarn_delivery_retries", "Send attempts that failed and were retried, by channel.",
                               ["channel"], registry=registry)
        self.latency = Histogram("forewarn_delivery_latency_seconds",
                                 "From the first send attempt to delivery (including retries and rate limiting).",
                                 ["channel"], buckets=_LATENCY_BUCKETS, registry=registry)
        self.dead_lettered = Counter("forewarn_commands_dead_lettered", "Commands written to the commands DLQ, by reason.",
                                     ["reason"], registry=registry)
        self.in_doubt = Counter("forewarn_dispatcher_in_doubt",
                                "Commands taken over from a dead dispatcher's claim and resent (same idempotency key).",
                                registry=registry)
        for channel in channels:
            for outcome in OUTCOMES:
                self.deliveries.labels(channel=channel, outcome=outcome)
            self.retries.labels(channel=channel)
        for reason in DLQ_REASONS:
            self.dead_lettered.labels(reason=reason)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class DecisionMetrics:
    """Policy decisions by trigger, arm and reason (for the policy agent, which owns no other metrics module)."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.decisions = Counter("forewarn_policy_decisions", "Decisions published, by trigger, arm and reason.",
                                 ["trigger", "arm", "reason"], registry=registry)
        self.dropped = Counter("forewarn_policy_firings_dropped",
                               "Firings not decided: duplicates, stale, or redelivered records.", ["why"],
                               registry=registry)

    def count(self, decisions: Iterable[Any], duplicates: int = 0, stale: int = 0, redelivered: int = 0) -> None:
        for d in decisions:
            self.decisions.labels(trigger=d.trigger, arm=d.arm, reason=d.reason or "").inc()
        for why, n in (("duplicate", duplicates), ("stale", stale), ("redelivered", redelivered)):
            if n:
                self.dropped.labels(why=why).inc(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
