"""What several commands share: building Settings the way every command does, running a service."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streams.settings import Settings

__all__ = ["load_settings", "service_settings", "serve"]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; without KAFKA_BOOTSTRAP_SERVERS / REDIS_URL, a running
    ``forewarn dev up`` stack supplies them, so commands work right after ``dev up``."""
    if not (os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("FOREWARN_KAFKA_BOOTSTRAP_SERVERS")):
        from forewarn.devinfra import DevInfraError, DevStack

        try:
            ends = DevStack().endpoints()
        except DevInfraError:
            ends = None
        if ends is not None:
            overrides.setdefault("kafka_bootstrap_servers", ends.kafka_bootstrap_servers)
            if not (os.environ.get("REDIS_URL") or os.environ.get("FOREWARN_REDIS_URL")):
                overrides.setdefault("redis_url", ends.redis_url)
    return Settings(**overrides)


def service_settings(config: Path | None, loglevel: str) -> Settings:
    """Logging at ``loglevel`` and the settings of a long-running command (``--config`` overriding the path)."""
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return load_settings(**({"config_path": config} if config is not None else {}))


def serve(settings: Settings, metrics_port: int | None, registry: Any, run: Callable[[threading.Event], None]) -> None:
    """``/metrics`` on ``metrics_port`` (default ``FOREWARN_METRICS_PORT``; 0 = off), then ``run(stop)`` until
    SIGTERM or SIGINT sets ``stop`` (a clean stop)."""
    from prometheus_client import start_http_server

    port = metrics_port if metrics_port is not None else settings.metrics_port
    if port:
        start_http_server(port, addr=settings.worker_web_host, registry=registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(stop)
