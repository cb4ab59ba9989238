"""Declaring batch agents: the transport is required, one agent per topic, the topic is subscribed."""

from __future__ import annotations

import faust
import pytest
from prometheus_client import CollectorRegistry

from streams.batching import BatchingError, NotBatchTransport, attach_batching, batch_agent, batch_app, batching_of
from streams.settings import Settings


def _app(name: str, scheme: str = "batchkafka") -> faust.App:
    return faust.App(name, broker=f"{scheme}://127.0.0.1:9092")


def test_batch_agent_needs_a_runtime():
    with pytest.raises(BatchingError, match="no batch runtime"):
        batch_agent(_app("no-runtime"), "usage-events")


def test_the_runtime_needs_the_batch_transport():
    with pytest.raises(NotBatchTransport, match="batchkafka://"):
        attach_batching(_app("stock", "kafka"), max_inflight_bytes=1 << 20, registry=CollectorRegistry())


def test_one_batch_agent_per_topic_and_its_topic_is_subscribed():
    app = _app("one-per-topic")
    attach_batching(app, max_inflight_bytes=1 << 20, registry=CollectorRegistry())

    @batch_agent(app, "usage-events")
    async def first(partition, records):
        pass

    with pytest.raises(BatchingError, match="already has batch agent .*first"):
        batch_agent(app, "usage-events")(first)
    assert any("usage-events" in t.topics for t in app.topics)


def test_batch_app_carries_the_settings_and_reports_health():
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:9092", redis_url="redis://127.0.0.1:6379/0",
                        consumer_max_fetch_size=8 << 20, max_poll_records=5_000, max_inflight_bytes=32 << 20)
    app = batch_app(settings, app_id="health-check", registry=CollectorRegistry())
    runtime = batching_of(app)
    assert app.conf.consumer_max_fetch_size == 8 << 20
    assert app.conf.broker_max_poll_records == 5_000
    assert runtime.budget.limit == 32 << 20
    assert runtime.health() == {"ok": True, "reason": None, "inflight_bytes": 0, "batch_agents": []}
