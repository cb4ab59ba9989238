"""The worker's web server (``/metrics``, ``/healthz``, ``/readyz``) listens on FOREWARN_WORKER_WEB_HOST only."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from forewarn.devinfra.workers import WorkerProcess
from streams.batching.app import batch_app
from streams.settings import Settings
from streams.topics import ensure_topics


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "10.1.2.3"])
def test_faust_binds_the_configured_host(host):
    app = batch_app(Settings(worker_web_host=host, kafka_bootstrap_servers="k:9092"), app_id=f"bind-{host}",
                    registry=CollectorRegistry())
    assert app.conf.web_bind == host


def _answers(host: str, port: int) -> bool:
    """Whether an HTTP server answers /healthz at ``host:port`` (any status); False if the port is closed."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5):
            return True
    except urllib.error.HTTPError:
        return True  # answered, e.g. 503 before the partitions are assigned
    except OSError:
        return False


@pytest.mark.integration
def test_a_worker_listens_only_on_the_configured_host(settings, worker_env, tmp_path):
    # 127.0.0.2 is loopback too (127.0.0.0/8), so the test needs no other interface: a server bound
    # there answers on it and not on 127.0.0.1; one bound to every interface (0.0.0.0) would answer both.
    ensure_topics(settings)
    worker = WorkerProcess(["worker", "--loglevel", "warning"], {**worker_env, "FOREWARN_WORKER_WEB_HOST": "127.0.0.2"},
                           tmp_path / "worker.log").start()
    try:
        deadline = time.monotonic() + 90
        while not _answers("127.0.0.2", worker.web_port):
            assert worker.alive(), worker.log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "the worker's web server never answered on 127.0.0.2"
            time.sleep(0.2)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", worker.web_port), timeout=5).close()
    finally:
        worker.stop()
