"""When the handler slows down (a slow Redis), fetched-but-unprocessed data stays bounded and RSS flat.

The same backlog runs twice through a handler that takes 1 s per chunk: with
an 8 MB in-flight budget, and with a 1 GiB one (no bound in practice). The
bounded worker must hold at most its budget plus one chunk in flight and keep
its memory flat while the backlog waits in Kafka; the unbounded one shows what
the bound prevents.
"""

from __future__ import annotations

import time
import uuid

import pytest

from batch_harness import CountWorker
from streams.batching.loadgen import create_topic, produce_events

pytestmark = pytest.mark.integration

EVENTS = 300_000          # about 84 MB of values, far more than the bounded worker may hold
CHUNK_RECORDS = 5_000     # about 1.4 MB per chunk
BOUNDED = 8 * 1024 * 1024
OBSERVE_S = 8.0


def _observe(settings, tmp_path, topic: str, inflight: int, name: str) -> dict:
    env = {"FOREWARN_MAX_INFLIGHT_BYTES": str(inflight), "FOREWARN_MAX_POLL_RECORDS": str(CHUNK_RECORDS)}
    worker = CountWorker(settings, "--topic", topic, "--group", f"bp-{name}-{uuid.uuid4().hex[:8]}",
                         "--namespace", f"bp-{uuid.uuid4().hex[:8]}", "--mode", "noop", "--handler-delay", "1.0",
                         log_path=tmp_path / f"{name}.log", env=env)
    try:
        worker.wait_for(lambda: worker.records() > 0, 60, "the first chunk")
        time.sleep(OBSERVE_S)
        progress = [ln for ln in worker.lines if ln.get("event") == "progress" and ln["records"] > 0]
        return {
            "records": progress[-1]["records"],
            "inflight_peak": progress[-1]["inflight_peak"],
            "rss_start": progress[0]["rss_mb"],
            "rss_max": max(ln["rss_mb"] for ln in progress),
        }
    finally:
        worker.stop()


def test_a_slow_handler_keeps_fetched_data_bounded(settings, tmp_path):
    topic = f"batch-bp-{uuid.uuid4().hex[:8]}"
    create_topic(settings, topic, 4)
    produce_events(settings, topic, EVENTS)

    bounded = _observe(settings, tmp_path, topic, BOUNDED, "bounded")
    unbounded = _observe(settings, tmp_path, topic, 1 << 30, "unbounded")
    print(f"bounded: {bounded}\nunbounded: {unbounded}")

    assert bounded["records"] < EVENTS / 2, "the backlog must still be waiting for the measurement to mean anything"
    chunk_bytes_max = CHUNK_RECORDS * 400
    assert bounded["inflight_peak"] <= BOUNDED + chunk_bytes_max
    assert unbounded["inflight_peak"] > 4 * BOUNDED, "without a bound the lanes take the whole backlog"
    bounded_growth = bounded["rss_max"] - bounded["rss_start"]
    assert bounded_growth < 40, f"RSS grew {bounded_growth:.0f} MB under backpressure"
    # measured: bounded ~122 MB flat, unbounded ~280 MB with the backlog in its lanes
    assert unbounded["rss_max"] > bounded["rss_max"] + 60
