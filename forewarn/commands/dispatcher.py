"""``forewarn dispatcher`` (the delivery worker) and ``forewarn bench dispatcher``."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

from forewarn.commands.common import load_settings, serve, service_settings

__all__ = ["register", "run_dispatcher"]


def run_dispatcher(config: Path | None, metrics_port: int | None, loglevel: str) -> None:
    from prometheus_client import CollectorRegistry

    from streams.config import load_dispatcher_config
    from streams.dispatcher.worker import Dispatcher, build_channels, liveness_limit_s
    from streams.failures import REDIS_LOST, redis_failure
    from streams.health import preflight

    settings = service_settings(config, loglevel)
    # As for 'forewarn worker': an unreachable or refusing Kafka or Redis ends here with one clear line.
    preflight(settings)
    cfg = load_dispatcher_config(settings.config_path)
    specs = cfg.extra["channels"]
    channels = build_channels(specs, settings)
    registry = CollectorRegistry()

    # The loop beats at each poll and on progress inside a batch (a send landing, a wait going on), so a
    # batch of minutes does not look hung; what does is no progress for longer than the slowest sends.
    try:
        serve(settings, metrics_port, registry,
              lambda stop, beat: Dispatcher(settings, channels, specs, registry).run(stop, beat),
              stale_after_s=liveness_limit_s(specs, settings.dispatcher.max_poll_interval_s))
    except REDIS_LOST as exc:
        # Redis went away under a running dispatcher: one line saying so, not a traceback; the orchestrator
        # restarts it and the claims keep a command from being sent twice.
        logging.getLogger("forewarn.dispatcher").error(redis_failure(settings, exc, "dispatcher"))
        raise typer.Exit(1) from None


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("dispatcher")
    def dispatcher(
        config: Path = typer.Option(None, help="Config file (default: settings, FOREWARN_CONFIG_PATH)."),
        metrics_port: int = typer.Option(None, help="Port of /metrics (default: FOREWARN_METRICS_PORT; 0 = off)."),
        loglevel: str = typer.Option("info", help="Log level."),
    ) -> None:
        """Deliver intervention commands through the configured channels until stopped (SIGTERM: clean stop)."""
        run_dispatcher(config, metrics_port, loglevel)

    @bench.command("dispatcher")
    def bench_dispatcher(
        commands: int = typer.Option(20_000, help="Commands to deliver."),
        concurrency: int = typer.Option(None, help="Delivery threads (default: settings, 8)."),
        batch_size: int = typer.Option(None, help="Commands per batch (default: settings, 500)."),
    ) -> None:
        """Commands/s through one dispatcher process to a local webhook receiver (target >= 2,000/s)."""
        from streams.dispatcher.bench import run_bench

        result = run_bench(load_settings(), commands, concurrency=concurrency, batch_size=batch_size)
        Console().print(result.describe(), highlight=False)
