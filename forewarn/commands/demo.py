"""``forewarn demo``: the main job — the closed loop end to end on a real Kafka and Redis."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from forewarn.commands.common import literal
from forewarn.demo import ClosedLoop, DemoOptions

__all__ = ["register"]


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        accounts: int = typer.Option(2000, help="Simulated customer accounts."),
        days: int = typer.Option(180, help="Simulated days (90-day retention needs decisions 90 days before the end)."),
        seed: int = typer.Option(7, help="Simulator seed."),
        holdout: str = typer.Option("50%", help="Control-group share for the demo (the shipped config has 10%)."),
        out: Path = typer.Option(Path("out/demo"), help="Where the report, the demo config and logs go."),
    ) -> None:
        """Run the closed loop: simulator → detect → policy → dispatcher → local receiver → report."""
        console = Console()
        progress = Progress(TextColumn("simulated day {task.fields[date]}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console)
        with progress:
            task = progress.add_task("days", total=days, date="")
            loop = ClosedLoop(
                DemoOptions(accounts=accounts, days=days, seed=seed, holdout=holdout, out=out),
                progress=lambda date, done, total: progress.update(task, completed=done, date=date),
                note=lambda m: progress.console.print(f"[dim]{m}[/]"),
            )
            result = loop.run()
        from forewarn.report.terminal import headline_rows, report_tables

        for table in report_tables(result.report):
            console.print(table)
        counts = Table("pipeline", "count", title="What flowed through")
        for name, value in result.counts.items():
            counts.add_row(name.replace("_", " "), f"{value:,}")
        console.print(counts)
        console.print(f"report: [bold]{literal(result.html)}[/] (JSON: {literal(result.json)}); {result.seconds:.0f}s in all")
        if not headline_rows(result.report):
            raise typer.Exit(1)
