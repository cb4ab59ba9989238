"""``forewarn dlq replay``: re-publish dead-lettered records to their source topic after a fix."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from forewarn.commands.common import literal, load_settings
from streams.dlq import ReplayResult, replay_dlq

__all__ = ["register", "result_table"]


def result_table(result: ReplayResult) -> Table:
    """Replayed (or, in a dry run, due) records by reason and destination topic."""
    verb = "would replay" if result.dry_run else "replayed"
    table = Table("reason", "to topic", verb, title=f"DLQ replay{' (dry run)' if result.dry_run else ''}")
    for reason, topic, n in result.rows():
        table.add_row(reason, topic, f"{n:,}")
    table.add_row("[bold]total[/]", "", f"[bold]{result.total:,}[/]")
    return table


def register(app: typer.Typer, bench: typer.Typer) -> None:
    dlq = typer.Typer(help="Dead-letter topics: inspect and replay.", no_args_is_help=True)
    app.add_typer(dlq, name="dlq")

    @dlq.command("replay")
    def replay(
        topic: str = typer.Option(None, help="Dead-letter topic (default: the usage-events DLQ from settings)."),
        reason: str = typer.Option(None, help="Replay only records with this reason header (e.g. invalid_json)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be replayed; change nothing."),
        to: str = typer.Option(None, "--to", help="Publish to this topic instead of each record's source-topic."),
    ) -> None:
        """Re-publish dead-lettered records to their source topic, each exactly once.

        Progress is kept in consumer groups on the DLQ topic and committed in the same
        Kafka transaction as the re-published records: running it twice replays
        nothing twice, and a run killed half-way resumes where it stopped.
        """
        from streams.health import preflight

        settings = load_settings()
        preflight(settings, redis=False)  # an unreachable broker: one line now, not a 30 s wait
        topic = topic or settings.topics.usage_events_dlq
        console = Console()
        with console.status(f"reading {literal(topic)}"):
            result = replay_dlq(settings, topic, reason=reason, dry_run=dry_run, to_topic=to)
        console.print(result_table(result))
        notes = []
        if result.already_replayed:
            notes.append(f"{result.already_replayed:,} already replayed by an earlier run")
        if result.other_reasons:
            notes.append(f"{result.other_reasons:,} with other reasons left for their own replay")
        if notes:
            console.print("; ".join(notes))
