"""Health endpoints: real worker processes, a real crash, real probes of Kafka and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from forewarn.devinfra.procs import free_port, stop_pid
from forewarn.devinfra.workers import WorkerProcess
from streams.health import (
    Check, ConnectionCheckFailed, HealthServer, HealthState, KafkaProbe, RedisProbe, preflight,
)
from streams.producer import RecordProducer
from streams.settings import Settings
from streams.topics import ensure_topics

CRASHING_APP = Path(__file__).parent / "testdata" / "crashing_worker.py"


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _poll(url: str, predicate, timeout: float, proc=None) -> tuple[int, dict]:
    deadline = time.monotonic() + timeout
    last: tuple[int, dict] | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None and last is None:
            raise AssertionError(f"process exited with {proc.returncode} before {url} answered")
        try:
            last = _get(url)
            if predicate(*last):
                return last
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never satisfied the condition; last answer {last}")


# -- plain logic ---------------------------------------------------------------------------


def test_probe_that_raises_is_a_failed_check_not_an_error():
    state = HealthState(required=("kafka",))

    def broken() -> Check:
        raise RuntimeError("driver bug")

    state.add_probe("kafka", broken)
    report = state.readiness()
    assert report.status == 503
    assert dict((c.name, c.detail) for c in report.checks)["kafka"] == "probe raised RuntimeError"


def test_probe_results_are_cached_for_their_ttl():
    now = [0.0]
    calls = []
    state = HealthState(clock=lambda: now[0])
    state.add_probe("redis", lambda: calls.append(1) or Check("redis", True, "PONG"), ttl_s=5)
    state.readiness(); state.readiness()
    now[0] = 6.0
    state.readiness()
    assert len(calls) == 2


def test_standalone_server_serves_metrics_and_fails_readiness_with_the_reason():
    registry = CollectorRegistry()
    Counter("forewarn_test_things", "Things.", registry=registry).inc(3)
    state = HealthState(required=("redis",))
    server = HealthServer(state, registry, port=0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            assert b"forewarn_test_things_total 3.0" in resp.read()
        assert _get(f"{base}/healthz")[0] == 200
        status, body = _get(f"{base}/readyz")
        assert status == 503 and body["checks"]["redis"] == {"ok": False, "detail": "not checked yet"}
        state.record_crash("dispatcher loop", ValueError("bad command"))
        status, body = _get(f"{base}/healthz")
        assert status == 503 and body["checks"]["crashed: dispatcher loop"]["detail"] == "ValueError('bad command')"
    finally:
        server.stop()


# -- probes against the real servers ------------------------------------------------------


@pytest.mark.integration
def test_probes_pass_against_the_real_servers_and_fail_clearly_against_closed_ports(settings):
    assert KafkaProbe(settings)().ok
    assert RedisProbe(settings)().ok
    closed = free_port()
    dead = Settings(kafka_bootstrap_servers=f"127.0.0.1:{closed}",
                    redis_url=f"redis://forewarn:Pa55-not-in-output@127.0.0.1:{closed}/0")
    started = time.monotonic()
    with pytest.raises(ConnectionCheckFailed) as err:
        preflight(dead, timeout_s=2)
    assert time.monotonic() - started < 10
    text = str(err.value)
    assert f"Kafka at 127.0.0.1:{closed} (PLAINTEXT) did not answer" in text
    assert f"Redis at redis://forewarn:***@127.0.0.1:{closed}/0 refused PING" in text
    assert "Pa55-not-in-output" not in text


# -- real worker processes -------------------------------------------------------------------


@pytest.mark.integration
def test_worker_is_live_and_ready_once_partitions_are_assigned(settings, worker_env, tmp_path):
    ensure_topics(settings)
    worker = WorkerProcess(["worker", "--loglevel", "warning"], worker_env, tmp_path / "worker.log").start()
    try:
        base = f"http://127.0.0.1:{worker.web_port}"
        status, body = _poll(f"{base}/readyz", lambda s, b: s == 200, 90, worker.proc)
        checks = body["checks"]
        assert checks["kafka"]["ok"] and checks["redis"]["ok"] and checks["heartbeat"]["ok"]
        # 4 partitions of usage-events; the group may add its own internal topics' partitions
        assert checks["partitions"]["ok"] and "partition(s) assigned" in checks["partitions"]["detail"]
        status, body = _get(f"{base}/healthz")
        assert status == 200 and body["status"] == "ok"
    finally:
        assert worker.stop() == 0


@pytest.mark.integration
def test_a_crashed_agent_fails_healthz_logs_why_and_exits_non_zero(settings, worker_env, tmp_path):
    ensure_topics(settings)
    poison_topic = f"poison-{settings.app_id}"
    ensure_topics(settings, names=[poison_topic])
    port = free_port()
    log_path = tmp_path / "crash.log"
    env = dict(os.environ, **worker_env, FOREWARN_WORKER_WEB_PORT=str(port))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(CRASHING_APP), poison_topic], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _poll(f"{base}/readyz", lambda s, b: s == 200, 90, proc)
        producer = RecordProducer(settings)
        producer.produce(poison_topic, b"fine", b"acct-1")
        producer.produce(poison_topic, b"boom", b"acct-1")
        producer.flush()
        status, body = _poll(f"{base}/healthz", lambda s, b: s == 503, 30, proc)
        assert body["checks"]["crashed: agent test.poison"] == {
            "ok": False, "detail": "RuntimeError('poison record: boom')"}
        assert proc.wait(timeout=60) != 0
    finally:
        stop_pid(proc.pid)
    log_text = log_path.read_text()
    assert "agent test.poison crashed: RuntimeError('poison record: boom')" in log_text
    assert "Traceback" in log_text  # the reason is logged with its stack, not just counted


def test_a_redis_password_never_shows_in_a_probe_detail_however_it_is_written():
    """redis-py takes the password from the user part or from a password= query parameter; both, and
    passwords with URL delimiters in them, must be masked where health details and errors show the URL."""
    from streams.health import _scrub, _secrets, masked_url

    for url in ("redis://default:S3cr3t-x@127.0.0.1:1/0", "redis://127.0.0.1:1/0?password=S3cr3t-x",
                "redis://u:S3cr3t-x#frag@127.0.0.1:1/0", "redis://[::1]:1/0?db=0&password=S3cr3t-x",
                # a scheme forgotten or mistyped (the probe's detail printed these in full)
                "default:S3cr3t-x@127.0.0.1:1/0", "redis//default:S3cr3t-x@127.0.0.1:1/0",
                "redis:/default:S3cr3t-x@127.0.0.1:1/0"):
        shown = masked_url(url)
        assert "S3cr3t" not in shown, shown
        settings = Settings(redis_url=url)
        assert "S3cr3t" not in _scrub(f"Redis at {url} refused", _secrets(settings)), url
        check = RedisProbe(settings, timeout_s=1.0)()
        assert not check.ok and "S3cr3t" not in check.detail, check.detail
