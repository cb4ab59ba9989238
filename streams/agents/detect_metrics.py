"""Metrics of the detect worker: what it consumed, refused, fired, and how long it took.

>>> from prometheus_client import CollectorRegistry
>>> m = DetectMetrics(CollectorRegistry(), ["onboarding_stalled"])
>>> b'forewarn_firings_total{trigger="onboarding_stalled"} 0.0' in m.ingest.exposition()
True
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.metrics import IngestMetrics

__all__ = ["DetectMetrics"]

_CHUNK_BUCKETS = (1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000)
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class DetectMetrics:
    """The ingest counters plus firings, chunk sizes and latencies, watermark delay and Redis health."""

    def __init__(self, registry: CollectorRegistry, triggers: Iterable[str]):
        self.ingest = IngestMetrics(registry)
        self.duplicates = Counter("forewarn_events_duplicate", "Redelivered events (same event_id) dropped.",
                                  registry=registry)
        self.replayed = Counter("forewarn_events_replayed", "Records at or below the applied offset, skipped.",
                                registry=registry)
        self.firings = Counter("forewarn_firings", "Firings published, by trigger.", ["trigger"], registry=registry)
        for t in triggers:
            self.firings.labels(trigger=t)
        self.chunk_events = Histogram("forewarn_detect_chunk_events", "Records per processed chunk.",
                                      buckets=_CHUNK_BUCKETS, registry=registry)
        self.chunk_seconds = Histogram("forewarn_detect_chunk_seconds",
                                       "Time to parse, detect, store and publish one chunk.",
                                       buckets=_SECONDS, registry=registry)
        self.redis_seconds = Histogram("forewarn_redis_call_seconds", "Latency of Redis calls by the detector.",
                                       ["op"], buckets=_SECONDS, registry=registry)
        self.redis_errors = Counter("forewarn_redis_errors", "Redis calls that failed.", registry=registry)
        self.stale_retries = Counter("forewarn_detect_stale_writes",
                                     "Chunk writes refused because another worker wrote to the partition first "
                                     "(owners overlapping in a rebalance); the chunk is worked out again.",
                                     registry=registry)
        self.watermark_delay = Gauge("forewarn_watermark_delay_seconds",
                                     "Wall-clock time minus the partition's event-time watermark.",
                                     ["partition"], registry=registry)
        self.outbox_published = Counter("forewarn_outbox_published_records",
                                        "Records published from the Redis outbox, by role.", ["role"],
                                        registry=registry)
