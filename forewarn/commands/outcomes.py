"""``forewarn outcomes``: the live outcome worker (success within the window per decision, state in Redis)."""

from __future__ import annotations

from pathlib import Path

import typer

from forewarn.commands.common import serve, service_settings

__all__ = ["register", "run_outcomes"]


def run_outcomes(config: Path | None, metrics_port: int | None, loglevel: str) -> None:
    from prometheus_client import CollectorRegistry

    from streams.config import apply_settings, load_config
    from streams.health import preflight
    from streams.outcome_worker import OutcomeWorker

    settings = service_settings(config, loglevel)
    cfg = apply_settings(load_config(settings.config_path), settings)
    # Unreachable Kafka or Redis, wrong credentials: one clear line and exit 1, not a retry loop.
    preflight(settings)
    registry = CollectorRegistry()
    serve(settings, metrics_port, registry, OutcomeWorker(settings, cfg, registry).run)


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
