"""Health of a Forewarn process: ``/healthz`` (alive), ``/readyz`` (ready for work), loud crashes.

* **Liveness** — the event loop still turns (a heartbeat fresher than
  ``stale_after_s``) and no component has crashed. A crashed agent fails it at
  once, with its name and the exception, and is logged at ERROR with the
  traceback: a Forewarn worker is never left half alive.
* **Readiness** — alive, *and* Kafka answers a metadata request, Redis answers
  PING, and (for a stream worker) the consumer group has handed this worker its
  partitions. Probes of Kafka and Redis run on demand and are cached for a few
  seconds, so a probe every few seconds costs one round trip each.

``HealthState`` is plain Python: pushed facts, pulled probes, reports.
``install_worker_health`` wires it into a Faust app (pages, heartbeat, crash
supervisor, rebalance signals); ``HealthServer`` serves the same three pages
(``/metrics`` too) from a thread for processes without Faust, such as the
dispatcher. ``preflight`` checks both connections before a process starts and
fails fast with one clear line when credentials or certificates are wrong.
Secrets never appear in a detail: URLs are shown with their password masked and
every known secret is scrubbed from driver messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from streams.errors import StreamsError
from streams.settings import Settings

__all__ = [
    "Check", "HealthReport", "HealthState", "KafkaProbe", "RedisProbe", "ConnectionCheckFailed",
    "HealthServer", "heartbeat", "install_worker_health", "preflight", "masked_url",
]

log = logging.getLogger("forewarn.health")


class ConnectionCheckFailed(StreamsError):
    """Kafka or Redis refused or did not answer the start-up check."""


@dataclass(frozen=True)
class Check:
    """One named fact about the process: ok or not, and why."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class HealthReport:
    """The answer of ``/healthz`` or ``/readyz``: overall verdict plus every check behind it."""

    ok: bool
    checks: tuple[Check, ...]

    @property
    def status(self) -> int:
        return 200 if self.ok else 503

    def to_json(self) -> bytes:
        body = {"status": "ok" if self.ok else "failing",
                "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks}}
        return json.dumps(body, sort_keys=True).encode()


class HealthState:
    """What liveness and readiness are judged from; thread-safe, clock passed in.

    >>> now = [100.0]
    >>> state = HealthState(stale_after_s=10, required=("kafka",), clock=lambda: now[0])
    >>> state.beat(); state.liveness().ok
    True
    >>> state.readiness().ok          # kafka has not been checked yet
    False
    >>> state.report("kafka", True, "1 broker")
    >>> state.readiness().status
    200
    >>> now[0] += 11                  # the loop stopped beating
    >>> state.liveness().checks[0].detail
    'last heartbeat 11.0s ago (limit 10s)'
    >>> now[0] -= 11; state.record_crash("agent forewarn.ingest", ValueError("boom"))
    >>> state.liveness().ok, state.crashes
    (False, {'agent forewarn.ingest': "ValueError('boom')"})
    """

    def __init__(self, stale_after_s: float = 30.0, required: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic):
        self.stale_after_s = stale_after_s
        self.required = tuple(required)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_beat = clock()
        self._crashes: dict[str, str] = {}
        self._facts: dict[str, Check] = {}
        self._probes: dict[str, tuple[Callable[[], Check], float]] = {}
        self._probe_cache: dict[str, tuple[float, Check]] = {}

    # -- what the process tells us ---------------------------------------------------

    def beat(self) -> None:
        """Called by the event loop's heartbeat task; its age is the loop's liveness."""
        with self._lock:
            self._last_beat = self._clock()

    def record_crash(self, component: str, reason: BaseException | str) -> None:
        with self._lock:
            self._crashes[component] = reason if isinstance(reason, str) else repr(reason)

    def report(self, name: str, ok: bool, detail: str) -> None:
        """Set a readiness fact pushed by the process (e.g. partitions assigned)."""
        with self._lock:
            self._facts[name] = Check(name, ok, detail)

    def add_probe(self, name: str, probe: Callable[[], Check], ttl_s: float = 5.0) -> None:
        """A readiness fact pulled on demand (blocking call) and cached for ``ttl_s``."""
        with self._lock:
            self._probes[name] = (probe, ttl_s)
            self._probe_cache.pop(name, None)

    @property
    def crashes(self) -> dict[str, str]:
        with self._lock:
            return dict(self._crashes)

    # -- verdicts ----------------------------------------------------------------------

    def liveness(self) -> HealthReport:
        with self._lock:
            age = self._clock() - self._last_beat
            checks = [Check("heartbeat", age <= self.stale_after_s,
                            f"last heartbeat {age:.1f}s ago (limit {self.stale_after_s:g}s)")]
            checks += [Check(f"crashed: {name}", False, why) for name, why in sorted(self._crashes.items())]
        return HealthReport(all(c.ok for c in checks), tuple(checks))

    def readiness(self) -> HealthReport:
        """Liveness plus every fact and probe; blocks while expired probes run."""
        live = self.liveness()
        with self._lock:
            probes = dict(self._probes)
        pulled: dict[str, Check] = {}
        for name, (probe, ttl) in probes.items():
            with self._lock:
                cached = self._probe_cache.get(name)
            if cached is not None and self._clock() - cached[0] < ttl:
                pulled[name] = cached[1]
                continue
            try:
                result = probe()
            except Exception as exc:  # a probe that raises is a failed check, never a 500
                result = Check(name, False, f"probe raised {type(exc).__name__}")
            with self._lock:
                self._probe_cache[name] = (self._clock(), result)
            pulled[name] = result
        with self._lock:
            facts = {**self._facts, **pulled}
        checks = list(live.checks)
        for name in self.required:
            if name not in facts:
                checks.append(Check(name, False, "not checked yet"))
        checks += [facts[n] for n in sorted(facts)]
        return HealthReport(all(c.ok for c in checks), tuple(checks))


# -- connection probes -------------------------------------------------------------------


def _password_spans(url: str) -> list[tuple[int, int]]:
    """Where a URL holds passwords: after the user name (up to the last ``@``), and in ``password=`` query
    parameters past it (redis-py reads both), whatever characters they hold. A URL whose scheme is
    missing or mistyped (``user:pw@host``, ``redis//user:pw@host``) is read from its start: what may be
    masked too is the rest of the mistyped scheme, never a password left visible."""
    spans: list[tuple[int, int]] = []
    scheme_end = url.find("://")
    rest = scheme_end + 3 if scheme_end >= 0 else 0
    after = rest
    at = url.rfind("@", rest)
    colon = url.find(":", rest, at) if at >= 0 else -1
    if colon >= 0:
        spans.append((colon + 1, at))
        after = at
    spans += [m.span(2) for m in _QUERY_PASSWORD.finditer(url, after)]
    return spans


def masked_url(url: str) -> str:
    """A URL safe to print: every password it holds (see ``_password_spans``) replaced by ``***``.

    >>> masked_url("rediss://forewarn:s3cret@10.0.0.7:6380/0")
    'rediss://forewarn:***@10.0.0.7:6380/0'
    >>> masked_url("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    >>> masked_url("redis://[::1]:6379/0?password=s3cret&db=1")
    'redis://[::1]:6379/0?password=***&db=1'
    >>> masked_url("redis://u:pa#s/s@host:6379/0")
    'redis://u:***@host:6379/0'
    >>> masked_url("default:s3cret@redis.internal:6379/0"), masked_url("redis//default:s3cret@host:6379/0")
    ('default:***@redis.internal:6379/0', 'redis//default:***@host:6379/0')
    >>> masked_url("redis.internal:6379/0")
    'redis.internal:6379/0'
    """
    for start, end in reversed(_password_spans(url)):
        url = f"{url[:start]}***{url[end:]}"
    return url


_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#]*)")


def _secrets(settings: Settings) -> list[str]:
    sec = settings.kafka_security
    out = [s.get_secret_value() for s in (sec.sasl_password, sec.ssl_key_password) if s is not None]
    url = settings.redis_url.get_secret_value()
    for start, end in _password_spans(url):
        out.append(url[start:end])
        # A URL parser stops at a delimiter inside the password and may quote the part it read
        # ("Port could not be cast to integer value as 'S3cr3t'"): its pieces are secrets too.
        out += [piece for piece in re.split(r"[#/?]", url[start:end]) if len(piece) >= 4]
    return sorted({s for s in out if s}, key=len, reverse=True)  # the whole before its pieces


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


_FINAL_FAILURES = ("authentication", "ssl", "certificate", "handshake")


class KafkaProbe:
    """Asks the brokers for metadata with the process's own security settings.

    Keeps one admin client (its connections are reused by later probes). The
    detail names the broker, the protocol and, on failure, librdkafka's own
    reason (authentication failed, certificate rejected, no route) — never a secret.
    """

    def __init__(self, settings: Settings, timeout_s: float = 5.0):
        self.settings = settings
        self.timeout_s = timeout_s
        self._errors: list[str] = []
        self._admin = None

    def _client(self):
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient(self.settings.confluent_config(**{
                "log_level": 3,  # errors go to the sink below and are summarised in the check, not printed
                "error_cb": lambda err: self._errors.append(err.str()),
                "logger": _RdkafkaLogSink(self._errors),
            }))
        return self._admin

    def __call__(self) -> Check:
        where = f"{self.settings.kafka_bootstrap_servers} ({self.settings.kafka_security.protocol})"
        admin = self._client()
        self._errors.clear()
        deadline = time.monotonic() + self.timeout_s
        while True:
            # Ask in short slices: librdkafka retries a refused login forever, but the
            # refusal is final, so stop at the first authentication or TLS failure.
            try:
                meta = admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
                return Check("kafka", True, f"{len(meta.brokers)} broker(s) at {where}")
            except Exception as exc:  # KafkaException: no broker answered in this slice
                admin.poll(0)  # deliver queued error callbacks and log lines
                reasons = [e.rsplit("]: ", 1)[-1] for e in self._errors
                           if "FAIL" in e or "error" in e.lower() or "failed" in e.lower()]
                final = any(w in r.lower() for r in reasons for w in _FINAL_FAILURES)
                if final or time.monotonic() >= deadline:
                    why = reasons[-1] if reasons else (
                        exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc))
                    verdict = "refused the connection" if final else "did not answer"
                    return Check("kafka", False,
                                 _scrub(f"Kafka at {where} {verdict}: {why}", _secrets(self.settings)))


class _RdkafkaLogSink(logging.Logger):
    """A logger for librdkafka that keeps the last lines instead of printing them."""

    def __init__(self, sink: list[str]):
        super().__init__("forewarn.health.rdkafka")
        self._sink = sink

    def log(self, level, msg, *args, **kwargs):  # librdkafka calls logger.log(level, fmt, *args)
        self._sink.append(msg % args if args else str(msg))
        del self._sink[:-20]


class RedisProbe:
    """PING with the process's Redis URL and TLS files; the detail masks the password."""

    def __init__(self, settings: Settings, timeout_s: float = 3.0):
        self.settings = settings
        self.timeout_s = timeout_s
        self._client = None

    def __call__(self) -> Check:
        import redis

        url = self.settings.redis_url.get_secret_value()
        where = masked_url(url)
        try:
            if self._client is None:
                try:
                    self._client = redis.Redis.from_url(url, socket_timeout=self.timeout_s,
                                                        socket_connect_timeout=self.timeout_s,
                                                        **self.settings.redis_kwargs())
                except ValueError:  # its message may quote a piece of the URL, the password included
                    return Check("redis", False, f"Redis URL {where} is not valid: write redis://[user:password@]"
                                                 "host:port/db, rediss://… (TLS) or unix:///path")
            self._client.ping()
        except Exception as exc:  # redis.RedisError, ssl.SSLError, OSError
            self._client = None
            why = _scrub(str(exc) or type(exc).__name__, _secrets(self.settings))
            return Check("redis", False, f"Redis at {where} refused PING: {type(exc).__name__}: {why}")
        return Check("redis", True, f"PONG from {where}")


def preflight(settings: Settings, kafka: bool = True, redis: bool = True, timeout_s: float = 10.0) -> list[Check]:
    """Check Kafka and Redis before a process starts; raise one clear error if either fails.

    The message names the endpoint, the protocol and the reason the server gave,
    and the settings to look at — never the secret itself.
    """
    hints = {"kafka": "check KAFKA_BOOTSTRAP_SERVERS and FOREWARN_KAFKA_SECURITY__*",
             "redis": "check REDIS_URL and FOREWARN_REDIS_SSL_*"}
    checks = []
    if kafka:
        checks.append(KafkaProbe(settings, timeout_s)())
    if redis:
        checks.append(RedisProbe(settings, min(timeout_s, 5.0))())
    failed = [c for c in checks if not c.ok]
    if failed:
        raise ConnectionCheckFailed("; ".join(f"{c.detail} ({hints[c.name]})" for c in failed))
    return checks


# -- Faust wiring ------------------------------------------------------------------------


def _actor_name(service) -> str:
    agent = getattr(service, "agent", None)
    return f"agent {getattr(agent, 'name', None) or type(service).__name__}"


def _crash_reporting_supervisor(on_crash: Callable[[str, BaseException], object]):
    """A Faust agent supervisor that reports a crashed actor instead of quietly restarting it.

    Faust's default supervisor restarts a crashed actor on the same stream, which
    can leave a worker that looks alive but no longer processes its partitions.
    Forewarn treats an agent exception as a bug: fail health, log, exit non-zero,
    and let the orchestrator start a clean process (offsets were committed only
    for processed events, so nothing is lost).
    """
    from mode.supervisors import SupervisorStrategy

    class CrashReportingSupervisor(SupervisorStrategy):
        async def restart_services(self, services) -> None:
            for service in services:
                reason = service.crash_reason or RuntimeError("crashed without a reason")
                if isinstance(reason, asyncio.CancelledError):
                    # Faust cancels actors it restarts on a rebalance: not a bug, restart as usual.
                    await self.restart_service(service)
                else:
                    await on_crash(_actor_name(service), reason)

    return CrashReportingSupervisor


def _hard_exit(component: str) -> None:
    log.critical("%s crashed and the worker did not shut down in time: exiting now", component)
    logging.shutdown()
    os._exit(1)


def _heartbeat_service(state: HealthState, every_s: float):
    """A mode service that runs ``heartbeat`` from its start until it stops.

    Added as a child of a Faust app, it starts with the app, before the consumer
    group has assigned anything: Faust starts ``@app.timer`` and ``@app.task`` only
    after the first assignment, and a worker waiting for its group is alive.
    """
    from mode import Service

    class HeartbeatService(Service):
        async def on_start(self) -> None:
            self.add_future(heartbeat(state, every_s))  # cancelled when the service stops

    return HeartbeatService()


def install_worker_health(app, settings: Settings, state: HealthState | None = None,
                          heartbeat_s: float = 1.0, stale_after_s: float = 30.0,
                          crash_exit_after_s: float = 2.0, crash_hard_exit_after_s: float = 30.0,
                          probe_ttl_s: float = 5.0) -> HealthState:
    """Give a Faust app ``/healthz`` and ``/readyz``, a heartbeat, crash reporting and readiness facts.

    Call before the worker starts. The heartbeat runs from the app's start, so a worker
    still waiting for its consumer group is alive (``/healthz``) but not ready
    (``/readyz``) until partitions are assigned. An agent crash fails ``/healthz`` immediately and
    the worker exits with a non-zero code ``crash_exit_after_s`` later (the pause lets
    a probe or a scrape see why); if the orderly shutdown hangs, the process is ended
    ``crash_hard_exit_after_s`` after that.
    """
    state = state or HealthState(stale_after_s=stale_after_s, required=("kafka", "redis", "partitions"))
    state.add_probe("kafka", KafkaProbe(settings), probe_ttl_s)
    state.add_probe("redis", RedisProbe(settings), probe_ttl_s)
    state.report("partitions", False, "waiting for the consumer group to assign partitions")

    async def on_crash(component: str, reason: BaseException) -> None:
        if component in state.crashes:
            return
        state.record_crash(component, reason)
        log.error("%s crashed: %r; /healthz now fails and the worker exits in %.0fs",
                  component, reason, crash_exit_after_s, exc_info=reason)
        await asyncio.sleep(crash_exit_after_s)
        # The crashed actor never acks the record it died on: waiting for streams to
        # drain would wait forever. Acked offsets are still committed on the way out.
        app.conf.stream_wait_empty = False
        # If shutdown still hangs, a crashed worker must not linger half alive.
        watchdog = threading.Timer(crash_hard_exit_after_s, _hard_exit, args=(component,))
        watchdog.daemon = True
        watchdog.start()
        # Crashing the app marks the whole service tree, the worker included, as
        # crashed: the worker stops and re-raises the reason, so the exit code is 1.
        await app.crash(reason)

    app.conf.agent_supervisor = _crash_reporting_supervisor(on_crash)

    app.add_dependency(_heartbeat_service(state, heartbeat_s))

    async def _assigned(sender, assigned, **_kw) -> None:
        state.report("partitions", True, f"{len(assigned)} partition(s) assigned")

    async def _revoked(sender, revoked, **_kw) -> None:
        state.report("partitions", False, "rebalancing: partitions revoked, waiting for the new assignment")

    app.on_partitions_assigned.connect(_assigned, weak=False)
    app.on_partitions_revoked.connect(_revoked, weak=False)

    @app.page("/healthz")
    async def _healthz(web, request):
        report = state.liveness()
        return web.bytes(report.to_json(), content_type="application/json", status=report.status)

    @app.page("/readyz")
    async def _readyz(web, request):
        report = await asyncio.get_running_loop().run_in_executor(None, state.readiness)
        return web.bytes(report.to_json(), content_type="application/json", status=report.status)

    app.forewarn_health = state
    return state


# -- a process without Faust -------------------------------------------------------------


async def heartbeat(state: HealthState, every_s: float = 1.0) -> None:
    """Run as a task in an asyncio process: keeps liveness fresh while the loop turns."""
    while True:
        state.beat()
        await asyncio.sleep(every_s)


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server on an IPv4 or (for a host like ``::``) IPv6 address."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class HealthServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` from a daemon thread (stdlib HTTP server).

    For processes that have no Faust web server: the dispatcher and the outcome worker. Readiness
    probes block only the request's own thread.

    >>> import urllib.request
    >>> state = HealthState(); server = HealthServer(state, CollectorRegistry(), port=0).start()
    >>> urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz").status
    200
    >>> server.stop()
    """

    def __init__(self, state: HealthState, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0):
        self.state = state
        self.registry = registry
        self._server = _HTTPServer((host, port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    # The format the scraper asks for (OpenMetrics or text), as prometheus_client's own server.
                    encode, content_type = choose_encoder(self.headers.get("Accept", ""))
                    self._send(200, encode(outer.registry), content_type)
                elif path in ("/healthz", "/readyz"):
                    report = outer.state.liveness() if path == "/healthz" else outer.state.readiness()
                    self._send(report.status, report.to_json(), "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # probes every few seconds would flood the log
                pass

        return Handler

    def start(self) -> "HealthServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="forewarn-health", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
