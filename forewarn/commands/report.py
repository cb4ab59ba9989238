"""``forewarn report``: the impact report over a window of history, from files or from the topics.

Writes ``impact-report.html`` (self-contained, opens offline) and
``impact-report.json`` (the same numbers) into ``--out`` and prints the
per-trigger and headline tables. ``--metrics-out FILE`` also writes the
headline gauges in the Prometheus text format (for node_exporter's textfile
collector or any scraper of files).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from forewarn.report.build import load_report_config, report_from_files, report_from_topics
from forewarn.report.output import write_metrics, write_report
from forewarn.report.terminal import report_tables
from schemas.errors import ForewarnError
from schemas.timefmt import parse_rfc3339

__all__ = ["register"]


def _time(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError as exc:
        raise ForewarnError(f"{option} {text!r}: {exc}; write e.g. 2026-01-01T00:00:00Z") from None


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("report")
    def report(
        events: Path = typer.Option(None, help="Usage events, JSON Lines (what went into usage-events)."),
        decisions: Path = typer.Option(None, help="The decision log, JSON Lines (intervention-decisions)."),
        receipts: Path = typer.Option(None, help="Receipts, JSON Lines (intervention-receipts); optional."),
        config: Path = typer.Option(None, help="Config file; default: the settings' config_path."),
        from_kafka: bool = typer.Option(False, "--from-kafka",
                                        help="Read events, decisions and receipts from the topics instead of files."),
        out: Path = typer.Option(Path("forewarn-report"), help="Directory for impact-report.html and .json."),
        since: str = typer.Option(None, help="Window start (RFC 3339); default: the first event."),
        until: str = typer.Option(None, help="Window end, exclusive (RFC 3339); default: just after the last event."),
        min_sample: int = typer.Option(30, min=1, help="Closed windows each arm needs before an uplift is shown."),
        horizon_days: float = typer.Option(90.0, min=1.0, help="Retention horizon in days."),
        metrics_out: Path = typer.Option(None, "--metrics-out",
                                         help="Also write the headline gauges to this file in the Prometheus text "
                                              "format, atomically (e.g. for node_exporter's textfile collector)."),
    ) -> None:
        """Measure the interventions: uplift vs control, tickets, time to resolution, retention, ROI."""
        from forewarn.commands.common import literal, load_settings, refuse_overwriting

        settings = load_settings() if (from_kafka or config is None) else None
        config_path = config if config is not None else settings.config_path
        inputs = {"events file": events, "decisions file": decisions, "receipts file": receipts,
                  "config file": config_path}
        # refused before any work: `--metrics-out` on the events file replaced the events with gauges
        for target, option in ((out / "impact-report.html", "--out"), (out / "impact-report.json", "--out"),
                               (metrics_out, "--metrics-out")):
            if target is not None:
                refuse_overwriting(target, option, inputs)
        cfg = load_report_config(config_path)
        options = dict(since=_time(since, "--since"), until=_time(until, "--until"),
                       minimum_per_arm=min_sample, horizon_days=horizon_days)
        console = Console()
        if from_kafka:
            if events or decisions or receipts:
                raise ForewarnError("--from-kafka reads the topics; leave out --events, --decisions and --receipts")
            with console.status("reading decisions, receipts and usage events from Kafka") as status:
                def progress(topic: str, records: int) -> None:
                    status.update(f"reading {topic} from Kafka: {records:,} records")

                result = report_from_topics(settings, cfg, progress=progress, **options)
        else:
            if events is None or decisions is None:
                raise ForewarnError("give --events and --decisions (JSON Lines files), or --from-kafka")
            with console.status(f"reading {literal(events)}"):
                result = report_from_files(events, decisions, cfg, receipts, **options)
        data = result.to_json()
        files = write_report(data, out)
        metrics = write_metrics(data, metrics_out, cfg.triggers) if metrics_out is not None else None
        for table in report_tables(data):
            console.print(table)
        if "note" in data["window"]:
            console.print(f"[yellow]note:[/] {literal(data['window']['note'])}", highlight=False)
        console.print(f"report: {literal(files.html)}\njson:   {literal(files.json)}")
        if metrics is not None:
            console.print(f"metrics: {literal(metrics)}")
