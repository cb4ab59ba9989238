"""Prometheus metrics of the batch path, in a registry passed in.

Labels are topics and partition numbers (bounded by the topic configuration),
never accounts. Offsets lag is computed when scraped, from the consumer's own
bookkeeping, so the hot path pays nothing for it.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> m = BatchMetrics(CollectorRegistry())
>>> m.chunk_records.labels(topic="usage-events").observe(5000)
>>> b"forewarn_batch_chunk_records_bucket" in generate_latest(m.registry)
True
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["BatchMetrics", "OffsetLagCollector", "OffsetView"]

_RECORD_BUCKETS = (1, 10, 100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
_BYTE_BUCKETS = tuple(2 ** n for n in range(10, 26, 2))  # 1 KiB … 32 MiB
_SECOND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: What the lag collector reads: per partition (topic, partition) ->
#: (log end offset or None, committed offset or None, highest acked offset or None).
OffsetView = Callable[[], Mapping[tuple[str, int], tuple[int | None, int | None, int | None]]]


class OffsetLagCollector(Collector):
    """Per-partition commit lag and uncommitted work, read from the consumer at scrape time."""

    def __init__(self) -> None:
        self.view: OffsetView | None = None

    def collect(self) -> Iterable[Any]:
        lag = GaugeMetricFamily(
            "forewarn_batch_commit_lag_records",
            "Log end offset minus committed offset, per partition (what a restart would re-read or still has to read).",
            labels=["topic", "partition"],
        )
        uncommitted = GaugeMetricFamily(
            "forewarn_batch_uncommitted_records",
            "Records acknowledged by batch handlers but not yet committed to Kafka, per partition.",
            labels=["topic", "partition"],
        )
        view = self.view
        if view is not None:
            for (topic, partition), (end, committed, acked) in sorted(view().items()):
                labels = [topic, str(partition)]
                if end is not None and committed is not None:
                    lag.add_metric(labels, max(0, end - committed))
                if acked is not None:
                    uncommitted.add_metric(labels, max(0, acked + 1 - (committed or 0)))
        yield lag
        yield uncommitted


class BatchMetrics:
    """Chunk sizes, handler time, fetch and backpressure waits, drops, failures and offset lag."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.chunk_records = Histogram(
            "forewarn_batch_chunk_records", "Records per chunk handed to a batch handler.",
            ["topic"], buckets=_RECORD_BUCKETS, registry=registry)
        self.chunk_bytes = Histogram(
            "forewarn_batch_chunk_bytes", "Key and value bytes per chunk handed to a batch handler.",
            ["topic"], buckets=_BYTE_BUCKETS, registry=registry)
        self.handler_seconds = Histogram(
            "forewarn_batch_handler_seconds", "Time a batch handler took for one chunk.",
            ["topic"], buckets=_SECOND_BUCKETS, registry=registry)
        self.fetch_wait_seconds = Histogram(
            "forewarn_batch_fetch_wait_seconds", "Time the drain loop waited for the Kafka client to return records.",
            buckets=_SECOND_BUCKETS, registry=registry)
        self.backpressure_wait_seconds = Histogram(
            "forewarn_batch_backpressure_wait_seconds",
            "Time the drain loop waited for in-flight bytes to drop below the limit.",
            buckets=_SECOND_BUCKETS, registry=registry)
        self.records = Counter(
            "forewarn_batch_records", "Records acknowledged after their batch handler returned.",
            ["topic"], registry=registry)
        self.dropped = Counter(
            "forewarn_batch_dropped_records",
            "Fetched records dropped unprocessed because their partition was revoked or the generation changed "
            "(they are redelivered to the partition's owner).",
            ["topic", "reason"], registry=registry)
        self.failures = Counter(
            "forewarn_batch_handler_failures", "Batch handler calls that raised (each one stops the worker).",
            ["topic"], registry=registry)
        self.inflight_bytes = Gauge(
            "forewarn_batch_inflight_bytes", "Fetched bytes handed to lanes and not yet acknowledged.",
            registry=registry)
        self.offset_lag = OffsetLagCollector()
        registry.register(self.offset_lag)
