"""The ingest worker against the real broker: nothing lost, nothing extra, reasons right."""

from __future__ import annotations

import collections
import random
import shutil
import subprocess

import orjson
import pytest

from forewarn.devinfra.workers import WorkerProcess
from schemas.event import EventError, parse_event
from schemas.timefmt import US_PER_SECOND, format_rfc3339, parse_rfc3339
from streams.producer import RecordProducer, account_key
from streams.readback import read_topic
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

T0 = parse_rfc3339("2026-01-05T00:00:00Z")

MALFORMED = [
    b'{"event_id":"m1","account_id":"a1","type":"session.started"',
    b"[1,2,3]",
    b'{"event_id":"m3","account_id":"a1","type":"session.started"}',
    b'{"event_id":"m4","account_id":"a1","type":"session.started","occurred_at":"2026-01-03T10:00:00"}',
    b'{"event_id":"m5","account_id":"a1","type":"Bad Type","occurred_at":"2026-01-03T10:00:00Z"}',
    b'{"event_id":"m6","account_id":"a1","type":"x","occurred_at":"soon"}',
    b'{"event_id":"m7","account_id":"a1","type":"x","occurred_at":"2026-01-03T10:00:00Z","extra":1}',
    b"\xff\xfe\xfd",
]


def _valid(i: int) -> bytes:
    """Valid events in event-time order (one a second), so none is late."""
    return orjson.dumps({"event_id": f"v{i}", "account_id": f"acct-{i % 37}", "type": "session.started",
                         "occurred_at": format_rfc3339(T0 + i * US_PER_SECOND)})


def _run_worker(settings, worker_env, tmp_path, expected_total: int) -> dict[str, float]:
    worker = WorkerProcess(["worker", "--loglevel", "warning"], worker_env, tmp_path / "worker.log").start()
    try:
        return worker.wait_for(lambda m: m.get("forewarn_events_consumed_total", 0) >= expected_total, 120,
                               f"{expected_total} events consumed")
    finally:
        worker.stop()


def test_valid_and_malformed_events_are_counted_and_dead_lettered_exactly(settings, worker_env, tmp_path):
    ensure_topics(settings)
    n_valid, rng = 3000, random.Random(11)
    records = [_valid(i) for i in range(n_valid)]
    bad = [MALFORMED[i % len(MALFORMED)] for i in range(40)]
    for b in bad:
        records.insert(rng.randrange(len(records)), b)
    producer = RecordProducer(settings)
    producer.produce_many(settings.topics.usage_events, ((account_key(v), v) for v in records))
    producer.flush()

    metrics = _run_worker(settings, worker_env, tmp_path, len(records))
    expected_reasons = collections.Counter(parse_event(b).reason for b in bad)
    assert metrics["forewarn_events_consumed_total"] == len(records)
    assert metrics["forewarn_events_valid_total"] == n_valid
    for reason, count in expected_reasons.items():
        assert metrics[f'forewarn_events_invalid_total{{reason="{reason}"}}'] == count

    dlq = read_topic(settings, settings.topics.usage_events_dlq)
    assert len(dlq) == len(bad)
    assert collections.Counter(r.value for r in dlq) == collections.Counter(bad)
    for r in dlq:
        parsed = parse_event(r.value)
        assert isinstance(parsed, EventError) and r.headers["reason"].decode() == parsed.reason
        assert r.headers["source-topic"].decode() == settings.topics.usage_events


def test_event_produced_by_kcat_is_consumed_and_validated(settings, worker_env, tmp_path):
    assert shutil.which("kcat"), "kcat is missing: apt-get install -y kcat (CI installs it)"
    ensure_topics(settings)
    lines = _valid(1) + b"\n" + MALFORMED[0] + b"\n"
    done = subprocess.run(["kcat", "-P", "-b", settings.kafka_bootstrap_servers, "-t", settings.topics.usage_events,
                           "-k", "acct-1"], input=lines, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    metrics = _run_worker(settings, worker_env, tmp_path, 2)
    assert metrics["forewarn_events_valid_total"] == 1
    assert metrics['forewarn_events_invalid_total{reason="invalid_json"}'] == 1
