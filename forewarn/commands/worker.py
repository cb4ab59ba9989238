"""``forewarn worker``: run the Faust worker (same as ``faust -A streams.app worker``)."""

from __future__ import annotations

import typer

from forewarn.commands.common import load_settings

__all__ = ["register", "run_worker"]


def run_worker(web_port: int | None = None, loglevel: str = "info") -> None:
    import faust

    from streams.app import create_app
    from streams.gc_tuning import tune_gc
    from streams.health import preflight

    overrides = {"worker_web_port": web_port} if web_port is not None else {}
    settings = load_settings(**overrides)
    # Wrong credentials or certificates end here with one clear line, not a retry loop.
    preflight(settings)
    app = create_app(settings)
    tune_gc(settings.gc_gen0_threshold)
    worker = faust.Worker(app, loglevel=loglevel)
    worker.execute_from_commandline()


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        web_port: int = typer.Option(None, help="Port of /metrics and health (default: settings, 6066)."),
        loglevel: str = typer.Option("info", help="Log level."),
    ) -> None:
        """Run a Forewarn stream worker until stopped (Ctrl-C / SIGTERM stop it cleanly)."""
        run_worker(web_port, loglevel)
