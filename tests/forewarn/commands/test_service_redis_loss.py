"""``forewarn dispatcher`` and ``forewarn outcomes`` end with one ERROR line when Redis goes away under them.

A reviewer killed Redis under a running pipeline: both exited 1 with a bare traceback (the dispatcher's
from ``claims.claim_many``, the outcome worker's after "revoked partitions") and no line saying what
failed, unlike the Faust worker ("batch handler ... failed ...: ConnectionError ...; restart"). Now:
exit 1, one ERROR line naming Redis (its URL masked), the error class and message; no traceback.

Real processes, real Kafka; Redis behind :class:`test_service_health.RedisProxy`, taken down (its port
closed) once the process runs, then one record gives the process work that needs Redis.
"""

from __future__ import annotations

import re
import time
import urllib.parse

import orjson
import pytest
from sample_records import dispatcher_config, intervention_command
from test_service_health import RedisProxy, _event

from forewarn.devinfra.procs import free_port
from forewarn.devinfra.workers import WorkerProcess
from streams.producer import RecordProducer
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration


def _wait_for_line(proc: WorkerProcess, pattern: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.alive(), f"exited ({proc.proc.returncode}) before {pattern!r}: {proc.log_path.read_text()[-3000:]}"
        if re.search(pattern, proc.log_path.read_text()):
            return
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} within {timeout:.0f}s: {proc.log_path.read_text()[-3000:]}")


def _wait_for_exit(proc: WorkerProcess, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not proc.alive(), f"still running {timeout:.0f}s after Redis went away: {proc.log_path.read_text()[-3000:]}"
    return proc.proc.returncode


def _assert_one_error_line(proc: WorkerProcess, proxy: RedisProxy, service: str) -> None:
    text = proc.log_path.read_text()
    assert "Traceback" not in text, text[-3000:]
    lines = text.splitlines()
    # librdkafka's own lines (forewarn.rdkafka) may come and go with the broker's moods on a loaded
    # machine; the process's own ERROR lines are the one saying why it ends, and it is the last line.
    errors = [line for line in lines if " ERROR " in line and " forewarn.rdkafka: " not in line]
    assert len(errors) == 1, "\n".join(errors[:20]) or text[-3000:]
    line = errors[0]
    assert lines[-1] == line, text[-3000:]
    assert f"{service} stopped: Redis at redis://127.0.0.1:{proxy.port}/" in line, line
    assert "ConnectionError: " in line and "Connection refused" in line, line
    password = urllib.parse.urlsplit(proxy.url).password
    assert not password or password not in line


def test_dispatcher_ends_with_one_error_line_when_redis_goes_away(settings, worker_env, redis_url, tmp_path):
    from interventions.channels.receiver import WebhookReceiver

    ensure_topics(settings)
    proxy = RedisProxy(redis_url)
    secret = "whsec-redis-loss-0123456789abcdef"
    with WebhookReceiver(secret=secret.encode()) as hook:
        config = dispatcher_config(tmp_path / "dispatcher.json", hook.url())
        env = {**worker_env, "REDIS_URL": proxy.url, "FOREWARN_METRICS_PORT": "0",
               "FOREWARN_DISPATCHER__GROUP_ID": f"dispatch-{settings.app_id}",
               "FOREWARN_DISPATCHER__ALLOW_PRIVATE_NETWORKS": '["127.0.0.1/32"]',
               "FOREWARN_DISPATCHER__CHANNEL_SECRETS": orjson.dumps({"csm_task": secret}).decode()}
        proc = WorkerProcess(["dispatcher", "--config", str(config), "--loglevel", "info"], env,
                             tmp_path / "dispatcher.log", web_port=free_port())
        try:
            proc.start()
            _wait_for_line(proc, r"dispatcher \S+ consuming", 120)
            proxy.down()
            producer = RecordProducer(settings)
            producer.produce_many(settings.topics.intervention_commands,
                                  [(b"acct-redis-loss", intervention_command("acct-redis-loss"))])
            producer.flush()
            assert _wait_for_exit(proc, 180) == 1
        finally:
            proc.kill()
            proxy.down()
    _assert_one_error_line(proc, proxy, "dispatcher")


def test_outcome_worker_ends_with_one_error_line_when_redis_goes_away(settings, worker_env, redis_url, tmp_path):
    ensure_topics(settings)
    proxy = RedisProxy(redis_url)
    env = {**worker_env, "REDIS_URL": proxy.url, "FOREWARN_METRICS_PORT": "0", "FOREWARN_IDLE_ADVANCE": "false"}
    proc = WorkerProcess(["outcomes", "--loglevel", "info"], env, tmp_path / "outcomes.log", web_port=free_port())
    try:
        proc.start()
        _wait_for_line(proc, r"outcome worker assigned partitions", 120)
        proxy.down()
        producer = RecordProducer(settings)
        producer.produce_many(settings.topics.usage_events,
                              [(b"acct-redis-loss", _event("acct-redis-loss", "session.started"))])
        producer.flush()
        assert _wait_for_exit(proc, 180) == 1
    finally:
        proc.kill()
        proxy.down()
    _assert_one_error_line(proc, proxy, "outcome worker")
