"""``forewarn outcomes``: the live outcome worker (success within the window per decision, state in Redis)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import typer

from forewarn.commands.common import load_settings

__all__ = ["register", "run_outcomes"]


def run_outcomes(config: Path | None, metrics_port: int | None, loglevel: str) -> None:
    from prometheus_client import CollectorRegistry, start_http_server

    from streams.config import apply_settings, load_config
    from streams.health import preflight
    from streams.outcome_worker import OutcomeWorker

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {"config_path": config} if config is not None else {}
    settings = load_settings(**overrides)
    cfg = apply_settings(load_config(settings.config_path), settings)
    # Unreachable Kafka or Redis, wrong credentials: one clear line and exit 1, not a retry loop.
    preflight(settings)
    registry = CollectorRegistry()
    worker = OutcomeWorker(settings, cfg, registry)
    port = metrics_port if metrics_port is not None else settings.metrics_port
    if port:
        start_http_server(port, addr=settings.worker_web_host, registry=registry)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.run(stop)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("outcomes")
    def outcomes(
        config: Path = typer.Option(None, help="Config file (default: settings, FOREWARN_CONFIG_PATH)."),
        metrics_port: int = typer.Option(None, help="Port of /metrics (default: FOREWARN_METRICS_PORT; 0 = off)."),
        loglevel: str = typer.Option("info", help="Log level."),
    ) -> None:
        """Track whether each decision's success metric happened within its window, live, with the state in Redis;
        export the success-ratio gauges (closed windows only) until stopped (SIGTERM: clean stop)."""
        run_outcomes(config, metrics_port, loglevel)
