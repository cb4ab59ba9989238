"""Prometheus metrics of the ingest path. Labels are bounded: reasons and topics, never accounts.

>>> from prometheus_client import CollectorRegistry
>>> m = IngestMetrics(CollectorRegistry())
>>> m.consumed.inc(); m.invalid.labels(reason="invalid_json").inc()
>>> b"forewarn_events_invalid_total" in m.exposition()
True
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from schemas.event import REASONS

__all__ = ["IngestMetrics"]


class IngestMetrics:
    """Counters for events consumed, accepted and dead-lettered, in a registry passed in."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.consumed = Counter("forewarn_events_consumed", "Usage events read from Kafka.", registry=registry)
        self.valid = Counter("forewarn_events_valid", "Usage events that passed the contract.", registry=registry)
        self.invalid = Counter("forewarn_events_invalid", "Usage events refused, by reason (sent to the DLQ).",
                               ["reason"], registry=registry)
        self.dead_lettered = Counter("forewarn_dlq_records", "Records written to a dead-letter topic.",
                                     ["topic"], registry=registry)
        for reason in REASONS + ("late", "future"):
            self.invalid.labels(reason=reason)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
