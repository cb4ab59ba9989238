"""Secure connections end to end: Kafka over SASL_SSL (SCRAM-SHA-512) and mutual TLS, Redis with
TLS and an ACL user — a real broker and a real redis-server, certificates made in the test.

The worker is configured only through the settings environment variables; wrong
credentials must stop it within seconds with one clear line that holds no secret.
"""

from __future__ import annotations

import collections
import os
import time
import uuid
from pathlib import Path

import orjson
import pytest

from forewarn.devinfra.secure import CertificateAuthority, start_secure_kafka, start_tls_redis
from forewarn.devinfra.workers import WorkerProcess
from streams.producer import RecordProducer, account_key
from streams.readback import read_topic
from streams.settings import Settings, Topics
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

SCRAM_USER, SCRAM_PASSWORD = "forewarn-worker", "scram-" + uuid.uuid4().hex
REDIS_USER, REDIS_PASSWORD = "forewarn", "redis-" + uuid.uuid4().hex
# Every secret a failing run might be tempted to print.
SECRETS = (SCRAM_PASSWORD, REDIS_PASSWORD, "wrong-" + SCRAM_PASSWORD, "wrong-" + REDIS_PASSWORD)
ENV_KEYS_WE_SET = ("FOREWARN_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS", "FOREWARN_REDIS_URL", "REDIS_URL")


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory):
    """One secured broker (both listeners) and one TLS-only Redis for the whole module."""
    root = tmp_path_factory.mktemp("secure")
    ca = CertificateAuthority(root / "pki")
    kafka = start_secure_kafka(root / "kafka", ca, {SCRAM_USER: SCRAM_PASSWORD})
    try:
        redis = start_tls_redis(root / "redis", ca, {REDIS_USER: REDIS_PASSWORD})
    except Exception:
        kafka.stop()
        raise
    try:
        yield ca, kafka, redis, root
    finally:
        redis.stop()
        kafka.stop()


@pytest.fixture(autouse=True)
def _no_inherited_endpoints(monkeypatch):
    # The session may point at the plaintext stack through these; the secure tests set their own.
    for key in ENV_KEYS_WE_SET:
        monkeypatch.delenv(key, raising=False)


def _env(secure_stack, flavour: str, *, scram_password=SCRAM_PASSWORD, redis_password=REDIS_PASSWORD,
         client_ca: CertificateAuthority | None = None) -> dict[str, str]:
    """The settings environment of one run: nothing but FOREWARN_* / REDIS_URL variables."""
    ca, kafka, redis, root = secure_stack
    run = uuid.uuid4().hex[:8]
    topics = Topics.suffixed(f"s{run}")
    env = {
        "FOREWARN_APP_ID": f"forewarn-secure-{run}",
        "FOREWARN_TOPICS": topics.model_dump_json(),
        "FOREWARN_KAFKA_SECURITY__SSL_CAFILE": str(ca.cert_path),
        "REDIS_URL": redis.url(REDIS_USER, redis_password),
        "FOREWARN_REDIS_SSL_CAFILE": str(ca.cert_path),
        "FOREWARN_REDIS_SSL_CERTFILE": str(redis.client.cert),
        "FOREWARN_REDIS_SSL_KEYFILE": str(redis.client.key),
    }
    if flavour == "sasl_ssl":
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": kafka.sasl_ssl_bootstrap,
            "FOREWARN_KAFKA_SECURITY__PROTOCOL": "SASL_SSL",
            "FOREWARN_KAFKA_SECURITY__SASL_MECHANISM": "SCRAM-SHA-512",
            "FOREWARN_KAFKA_SECURITY__SASL_USERNAME": SCRAM_USER,
            "FOREWARN_KAFKA_SECURITY__SASL_PASSWORD": scram_password,
        })
    else:
        client = (client_ca or ca).issue(f"worker-{run}")
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": kafka.mtls_bootstrap,
            "FOREWARN_KAFKA_SECURITY__PROTOCOL": "SSL",
            "FOREWARN_KAFKA_SECURITY__SSL_CERTFILE": str(client.cert),
            "FOREWARN_KAFKA_SECURITY__SSL_KEYFILE": str(client.key),
        })
    return env


def _settings_from(env: dict[str, str], monkeypatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, "a secret leaked into the output"


def _valid(i: int) -> bytes:
    return orjson.dumps({"event_id": f"sec-{i}", "account_id": f"acct-{i % 13}", "type": "feature.used",
                         "occurred_at": "2026-01-05T10:00:00Z", "properties": {"feature": "reports"}})


@pytest.mark.parametrize("flavour", ["sasl_ssl", "mtls"])
def test_ingest_path_runs_through_secured_kafka_and_redis(secure_stack, flavour, monkeypatch, tmp_path):
    env = _env(secure_stack, flavour)
    settings = _settings_from(env, monkeypatch)
    assert settings.kafka_security.protocol == ("SASL_SSL" if flavour == "sasl_ssl" else "SSL")
    ensure_topics(settings)
    good = [_valid(i) for i in range(200)]
    bad = [b'{"event_id": "broken"', b"[]", b'{"event_id":"n","account_id":"a","type":"x","occurred_at":"2026-01-05T10:00:00"}']
    records = good + bad
    producer = RecordProducer(settings)
    producer.produce_many(settings.topics.usage_events, ((account_key(v), v) for v in records))
    producer.flush()
    assert producer.acked == len(records)

    worker = WorkerProcess(["worker", "--loglevel", "info"], env, tmp_path / "worker.log").start()
    try:
        metrics = worker.wait_for(lambda m: m.get("forewarn_events_consumed_total", 0) >= len(records), 120,
                                  f"{len(records)} events consumed over {flavour}")
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/readyz", timeout=15) as resp:
            ready = orjson.loads(resp.read())
    finally:
        assert worker.stop() == 0
    assert metrics["forewarn_events_consumed_total"] == len(records)
    assert metrics["forewarn_events_valid_total"] == len(good)
    checks = ready["checks"]
    assert checks["kafka"]["ok"] and f"({settings.kafka_security.protocol})" in checks["kafka"]["detail"]
    assert checks["redis"]["ok"] and checks["redis"]["detail"].startswith(f"PONG from rediss://{REDIS_USER}:***@")
    dlq = read_topic(settings, settings.topics.usage_events_dlq)
    assert collections.Counter(r.value for r in dlq) == collections.Counter(bad)
    _assert_no_secret(worker.log_path.read_text(), orjson.dumps(ready).decode())


def _failing_worker(env: dict[str, str], log_path: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    worker = WorkerProcess(["worker", "--loglevel", "info"], env, log_path).start()
    try:
        code = worker.proc.wait(timeout=60)
    finally:
        worker.kill()
    return code, log_path.read_text(), time.monotonic() - started


def test_wrong_scram_password_stops_the_worker_fast_with_a_clear_error(secure_stack, tmp_path):
    env = _env(secure_stack, "sasl_ssl", scram_password="wrong-" + SCRAM_PASSWORD)
    code, output, seconds = _failing_worker(env, tmp_path / "worker.log")
    assert code == 1
    assert seconds < 30
    assert f"Kafka at {env['KAFKA_BOOTSTRAP_SERVERS']} (SASL_SSL) refused the connection" in output
    assert "SASL authentication error" in output and "SCRAM-SHA-512" in output
    assert "FOREWARN_KAFKA_SECURITY__" in output  # it says where to look
    _assert_no_secret(output)


def test_client_certificate_from_another_ca_is_refused_fast(secure_stack, tmp_path):
    stranger = CertificateAuthority(tmp_path / "stranger-ca", "Not our CA")
    env = _env(secure_stack, "mtls", client_ca=stranger)
    code, output, seconds = _failing_worker(env, tmp_path / "worker.log")
    assert code == 1
    assert seconds < 30
    assert f"Kafka at {env['KAFKA_BOOTSTRAP_SERVERS']} (SSL) refused the connection" in output
    assert "certificate" in output.lower()
    _assert_no_secret(output)


def test_wrong_redis_acl_password_stops_the_worker_fast_with_a_clear_error(secure_stack, tmp_path):
    env = _env(secure_stack, "sasl_ssl", redis_password="wrong-" + REDIS_PASSWORD)
    code, output, seconds = _failing_worker(env, tmp_path / "worker.log")
    assert code == 1
    assert seconds < 30
    assert f"Redis at rediss://{REDIS_USER}:***@127.0.0.1:" in output
    assert "AuthenticationError" in output and "check REDIS_URL" in output
    _assert_no_secret(output)


def test_plaintext_client_cannot_use_the_tls_redis(secure_stack):
    import redis

    _, _, tls_redis, _ = secure_stack
    client = redis.Redis.from_url(f"redis://{REDIS_USER}:{REDIS_PASSWORD}@127.0.0.1:{tls_redis.tls_port}/0",
                                  socket_timeout=3, socket_connect_timeout=3)
    with pytest.raises(redis.RedisError):
        client.ping()
    assert os.path.exists(tls_redis.ca_file)
