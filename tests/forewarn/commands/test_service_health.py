"""``forewarn dispatcher`` and ``forewarn outcomes`` serve real health pages on their metrics port.

Real processes, real Kafka, real HTTP; Redis behind a proxy the test can take down (a closed port) or
freeze (connections kept, nothing answered: the process's own Redis calls, which have no timeout, hang
its loop). ``/healthz`` is JSON and fails when the loop stops beating, ``/readyz`` also fails without
Redis, ``/metrics`` still scrapes, other paths are 404.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import orjson
import pytest
from sample_records import dispatcher_config, intervention_command

from forewarn.devinfra.procs import free_port
from forewarn.devinfra.workers import WorkerProcess
from streams.producer import RecordProducer
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration


class RedisProxy:
    """A TCP proxy to Redis on a port of its own that can go ``down`` (port closed, connections cut),
    come back ``up``, or ``freeze`` (connections accepted, nothing forwarded either way)."""

    def __init__(self, redis_url: str):
        url = urllib.parse.urlsplit(redis_url)
        self.target = (url.hostname, url.port or 6379)
        self.port = free_port()
        userinfo = url.netloc.rpartition("@")[0]
        self.url = url._replace(netloc=f"{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}").geturl()
        self.frozen = threading.Event()
        self._socks: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        for sock in [self._listener, *self._socks]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._socks.clear()

    def freeze(self) -> None:
        self.frozen.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._socks += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                break
            while self.frozen.is_set():  # held, never forwarded: the peer waits for an answer
                time.sleep(0.05)
            try:
                dst.sendall(data)
            except OSError:
                return
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def _health(url: str) -> tuple[int, dict]:
    status, ctype, body = _get(url)
    assert ctype == "application/json", (url, status, ctype, body[:200])
    return status, json.loads(body)


def _until(what: str, check, timeout: float, proc: WorkerProcess):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert proc.alive(), f"process exited ({proc.proc.returncode}) waiting for {what}: {proc.log_path.read_text()[-2000:]}"
        try:
            last = check()
            if last:
                return last
        except (OSError, AssertionError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last {last!r}; log: {proc.log_path.read_text()[-2000:]}")


def _event(account: str, kind: str) -> bytes:
    from schemas.timefmt import format_rfc3339

    return orjson.dumps({"event_id": f"ev-{uuid.uuid4().hex[:8]}", "account_id": account, "type": kind,
                         "occurred_at": format_rfc3339(int(time.time() * 1e6))})


def _check_pages(proc: WorkerProcess, base: str, proxy: RedisProxy, produce, progressed, hang,
                 stale_s: float) -> None:
    """The whole story for one process: ``produce`` gives it one record of work, ``progressed(metrics)``
    tells when it has done it, ``hang`` makes its loop hang."""
    # Healthy: JSON with every check; /metrics scrapes; anything else is 404.
    status, body = _until("/readyz 200", lambda: (r := _health(f"{base}/readyz"))[0] == 200 and r, 120, proc)
    assert body["status"] == "ok"
    assert {n for n, c in body["checks"].items() if c["ok"]} >= {"heartbeat", "kafka", "redis"}
    assert body["checks"]["heartbeat"]["detail"].endswith(f"(limit {stale_s:g}s)")
    status, body = _health(f"{base}/healthz")
    assert status == 200 and body["status"] == "ok" and list(body["checks"]) == ["heartbeat"]
    produce()
    _until("the record processed", lambda: progressed(proc.metrics()), 90, proc)
    status, ctype, page = _get(f"{base}/metrics")
    assert status == 200 and ctype.startswith("text/plain") and b"# TYPE forewarn_" in page
    assert _get(f"{base}/nope")[0] == 404

    # Redis unreachable (its port closed): not ready, still alive (the idle loop keeps beating).
    proxy.down()
    status, body = _until("/readyz 503", lambda: (r := _health(f"{base}/readyz"))[0] == 503 and r, 30, proc)
    assert not body["checks"]["redis"]["ok"] and "refused PING" in body["checks"]["redis"]["detail"]
    assert body["checks"]["kafka"]["ok"] and body["checks"]["heartbeat"]["ok"]
    assert _health(f"{base}/healthz")[0] == 200
    proxy.up()
    _until("/readyz 200 again", lambda: _health(f"{base}/readyz")[0] == 200, 30, proc)

    started = time.monotonic()  # before the hang: the last beat may come just before it, never before this
    hang()
    status, body = _until("/healthz 503", lambda: (r := _health(f"{base}/healthz"))[0] == 503 and r,
                          stale_s + 60, proc)
    assert not body["checks"]["heartbeat"]["ok"], body
    assert body["checks"]["heartbeat"]["detail"].endswith(f"(limit {stale_s:g}s)")
    assert time.monotonic() - started >= stale_s - 1  # not before the bound
    assert _health(f"{base}/readyz")[0] == 503


class _OutcomesWithShortBound(WorkerProcess):
    """``forewarn outcomes`` with its liveness bound (60 s) shortened to ``stale_s``, so the test does not
    wait a minute for a hung loop to be called hung; the wiring is the production one."""

    stale_s = 3.0

    def start(self) -> "WorkerProcess":
        code = ("import sys, forewarn.commands.outcomes as o; "
                f"o.OUTCOMES_STALE_AFTER_S = {self.stale_s}; from forewarn.cli import main; main(sys.argv[1:])")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", code, *self.args], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self


def test_outcome_worker_health_pages(settings, worker_env, redis_url, tmp_path):
    ensure_topics(settings)
    proxy = RedisProxy(redis_url)
    port = free_port()
    stale_s = 3.0
    proc = _OutcomesWithShortBound(["outcomes", "--loglevel", "warning"],
                                   {**worker_env, "REDIS_URL": proxy.url, "FOREWARN_METRICS_PORT": str(port),
                                    "FOREWARN_IDLE_ADVANCE": "false"}, tmp_path / "outcomes.log", web_port=port)
    proc.stale_s = stale_s
    producer = RecordProducer(settings)

    def produce() -> None:
        producer.produce_many(settings.topics.usage_events, [(b"acct-health", _event("acct-health", "session.started"))])
        producer.flush()

    def hang() -> None:
        # Redis answers nothing: the next record stops the loop in its own Redis call (redis-py's
        # 5 s socket timeout and retries end it later, in a crash; the bound here is shorter).
        proxy.freeze()
        produce()

    try:
        proc.start()
        _check_pages(proc, f"http://127.0.0.1:{port}", proxy, produce,
                     lambda m: any(k.startswith("forewarn_outcome_position_offset{") for k in m), hang, stale_s)
    finally:
        proc.kill()
        proxy.frozen.clear()
        proxy.down()


def test_dispatcher_health_pages(settings, worker_env, redis_url, tmp_path):
    from interventions.channels.receiver import WebhookReceiver

    ensure_topics(settings)
    proxy = RedisProxy(redis_url)
    port = free_port()
    secret = "whsec-health-0123456789abcdef"
    producer = RecordProducer(settings)

    def produce() -> None:
        producer.produce_many(settings.topics.intervention_commands,
                              [(b"acct-health", intervention_command("acct-health"))])
        producer.flush()

    def hang() -> None:
        # A peer that accepts the send and does not answer for 5 minutes (the channel's timeout): the
        # loop waits in the batch and polls no more.
        hook.delay_s = 300
        produce()

    with WebhookReceiver(secret=secret.encode()) as hook:
        config = dispatcher_config(tmp_path / "dispatcher.json", hook.url(), timeout="5m")
        # The liveness bound is max_poll_interval_s (here its minimum, 10 s).
        env = {**worker_env, "REDIS_URL": proxy.url, "FOREWARN_METRICS_PORT": str(port),
               "FOREWARN_DISPATCHER__GROUP_ID": f"dispatch-{settings.app_id}",
               "FOREWARN_DISPATCHER__MAX_POLL_INTERVAL_S": "10", "FOREWARN_DISPATCHER__BATCH_BUDGET_S": "5",
               "FOREWARN_DISPATCHER__ALLOW_PRIVATE_NETWORKS": '["127.0.0.1/32"]',
               "FOREWARN_DISPATCHER__CHANNEL_SECRETS": orjson.dumps({"csm_task": secret}).decode()}
        proc = WorkerProcess(["dispatcher", "--config", str(config), "--loglevel", "warning"], env,
                             tmp_path / "dispatcher.log", web_port=port)
        try:
            proc.start()
            _check_pages(proc, f"http://127.0.0.1:{port}", proxy, produce,
                         lambda m: m.get('forewarn_deliveries_total{channel="csm_task",outcome="delivered"}', 0) >= 1,
                         hang, 10.0)
        finally:
            proc.kill()
            proxy.frozen.clear()
            proxy.down()
