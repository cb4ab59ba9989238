"""The batch path's metrics: prefixed, in base units, labelled by topic and partition only."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from streams.batching.metrics import BatchMetrics


def test_offset_lag_is_read_at_scrape_time():
    metrics = BatchMetrics(CollectorRegistry())
    view = {("usage-events", 0): (1_000, 400, 899), ("usage-events", 1): (10, None, None)}
    metrics.offset_lag.view = lambda: view
    text = generate_latest(metrics.registry).decode()
    assert 'forewarn_batch_commit_lag_records{partition="0",topic="usage-events"} 600.0' in text
    assert 'forewarn_batch_uncommitted_records{partition="0",topic="usage-events"} 500.0' in text
    assert 'partition="1"' not in text  # nothing known yet about partition 1's commit


def test_every_metric_has_the_prefix_and_a_base_unit():
    metrics = BatchMetrics(CollectorRegistry())
    metrics.handler_seconds.labels(topic="t").observe(0.01)
    metrics.records.labels(topic="t").inc()
    families = list(metrics.registry.collect())
    assert all(f.name.startswith("forewarn_batch_") for f in families)
    measured = [f.name for f in families if f.type in ("histogram", "gauge")]
    assert measured and all(n.endswith(("_seconds", "_bytes", "_records")) for n in measured), measured
    counted = [s.name for f in families if f.type == "counter" for s in f.samples if not s.name.endswith("_created")]
    assert counted and all(n.endswith("_total") for n in counted), counted
