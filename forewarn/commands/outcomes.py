"""``forewarn outcomes``: the live outcome worker (success within the window per decision, state in Redis)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from forewarn.commands.common import serve, service_settings

__all__ = ["OUTCOMES_STALE_AFTER_S", "register", "run_outcomes"]

#: /healthz fails once the outcome worker's loop has not turned for this long. A turn is one poll
#: (0.5 s at most), one batch (a few seconds for the largest) and an idle tick (its broker calls
#: time out after 5 s): a loop this late is stuck (a hung Redis or broker call), not busy.
OUTCOMES_STALE_AFTER_S = 60.0


def run_outcomes(config: Path | None, metrics_port: int | None, loglevel: str) -> None:
    from prometheus_client import CollectorRegistry

    from streams.config import apply_settings, load_config
    from streams.failures import REDIS_LOST, redis_failure
    from streams.health import preflight
    from streams.outcome_worker import OutcomeWorker

    settings = service_settings(config, loglevel)
    cfg = apply_settings(load_config(settings.config_path), settings)
    # Unreachable Kafka or Redis, wrong credentials: one clear line and exit 1, not a retry loop.
    preflight(settings)
    registry = CollectorRegistry()
    try:
        serve(settings, metrics_port, registry, OutcomeWorker(settings, cfg, registry).run,
              stale_after_s=OUTCOMES_STALE_AFTER_S)
    except REDIS_LOST as exc:
        # Redis went away under a running worker: one line saying so, not a traceback; the orchestrator
        # restarts it and it resumes from the committed offsets.
        logging.getLogger("forewarn.outcomes").error(redis_failure(settings, exc, "outcome worker"))
        raise typer.Exit(1) from None


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
