"""``forewarn worker``: run the Faust worker (same as ``faust -A streams.app worker``)."""

from __future__ import annotations

import typer

from forewarn.commands.common import load_settings

__all__ = ["register", "run_worker"]


def run_worker(web_port: int | None = None, loglevel: str = "info") -> None:
    from streams.app import create_app
    from streams.gc_tuning import tune_gc
    from streams.health import preflight

    overrides = {"worker_web_port": web_port} if web_port is not None else {}
    settings = load_settings(**overrides)
    # Wrong credentials or certificates end here with one clear line, not a retry loop.
    preflight(settings)
    _check_topics(settings)
    app = create_app(settings)
    tune_gc(settings.gc_gen0_threshold)
    worker = _worker_class()(app, loglevel=loglevel)
    worker.execute_from_commandline()


def _worker_class():
    import faust

    from streams.logfilter import install_repeat_filter

    class Worker(faust.Worker):
        """Faust's worker, its log handlers collapsing repeated lines: with Kafka down, aiokafka logs
        ~70 errors a second ("Unable connect to node", "Failed fetch messages", ...)."""

        def on_setup_root_logger(self, logger, level) -> None:
            super().on_setup_root_logger(logger, level)
            install_repeat_filter(logger.handlers)

    return Worker


def _check_topics(settings) -> None:
    """Refuse to start on topics keyed differently; warn about the ones not created yet (the worker waits)."""
    import logging

    from streams.topics import check_keyed_alike, partition_counts

    counts = partition_counts(settings, [settings.topics.usage_events, settings.topics.trigger_firings])
    check_keyed_alike(counts)
    missing = [name for name, n in counts.items() if n is None]
    if missing:
        logging.getLogger("forewarn.worker").warning(
            "topics %s do not exist yet; the worker waits for them (create them with 'forewarn topics create')",
            ", ".join(missing))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        web_port: int = typer.Option(None, help="Port of /metrics and health (default: settings, 6066)."),
        loglevel: str = typer.Option("info", help="Log level."),
    ) -> None:
        """Run a Forewarn stream worker until stopped (Ctrl-C / SIGTERM stop it cleanly)."""
        run_worker(web_port, loglevel)
