"""``forewarn check-config [PATH]``: exactly the start-up checks, and what the file defines.

It calls the same :func:`streams.config.load_config` every process calls at
start-up, and the dispatcher's own check of the file (a ``channels:`` section
naming every intervention's channel; ``--no-dispatcher`` skips it for a file
meant only for ``backtest`` or ``report``), so a file that passes here cannot
fail there. On a mistake it prints one ``file:line:column: ...`` line and exits
1 (the CLI's handling of :class:`schemas.errors.ForewarnError`).

What a file cannot show is checked where it is known: each channel's secret
(``FOREWARN_DISPATCHER__CHANNEL_SECRETS__<NAME>``) when the dispatcher starts,
whether a channel's target answers (and is an allowed address) at each send.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from detectors.config import ForewarnConfig
from forewarn.commands.common import literal
from streams.config import check_dispatcher_config, load_config
from schemas.config_yaml import format_duration

__all__ = ["register", "config_tables"]


def config_tables(config: ForewarnConfig) -> list[Table]:
    """Triggers (rule, response, success metric), the intervention catalogue, and engine settings."""
    triggers = Table(title=f"Triggers in {literal(config.source)}")
    triggers.add_column("trigger", style="bold", overflow="fold")
    triggers.add_column("kind")
    triggers.add_column("fires when")
    triggers.add_column("intervention", overflow="fold")
    triggers.add_column("success metric")
    for name, trigger in config.triggers.items():
        triggers.add_row(literal(name), trigger.rule.kind, literal(trigger.rule.describe()), literal(trigger.intervention),
                         literal(config.success_metric(name).describe()))
    catalogue = Table(title="Interventions")
    catalogue.add_column("intervention", style="bold", overflow="fold")
    catalogue.add_column("channel")
    catalogue.add_column("priority", justify="right")
    catalogue.add_column("cooldown", justify="right")
    catalogue.add_column("success metric")
    catalogue.add_column("used by", overflow="fold")
    for name, spec in config.interventions.items():
        users = [t for t, trig in config.triggers.items() if trig.intervention == name]
        catalogue.add_row(literal(name), literal(spec.channel), str(spec.priority), format_duration(spec.cooldown_us),
                          literal(spec.success.describe()), literal(", ".join(users)) or "[dim]no trigger[/]")
    engine = Table(title="Engine")
    engine.add_column("setting")
    engine.add_column("value")
    engine.add_row("allowed_lateness", format_duration(config.engine.allowed_lateness_us))
    engine.add_row("state_ttl", format_duration(config.engine.state_ttl_us))
    for name, values in sorted(config.engine.sets.items()):
        engine.add_row(f"sets.{literal(name)}", literal(", ".join(sorted(map(str, values)))))
    return [triggers, catalogue, engine]


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("check-config")
    def check_config(
        path: Path = typer.Argument(None, metavar="[PATH]", help="Config file; default: the settings' config_path."),
        no_dispatcher: bool = typer.Option(False, "--no-dispatcher",
                                           help="Skip the dispatcher's check (channels:), for a file only "
                                                "backtest, report or the worker read."),
    ) -> None:
        """Validate a config file with the start-up checks and show what it defines."""
        if path is None:
            from streams.settings import Settings

            path = Settings().config_path
        config = load_config(path)
        if not no_dispatcher:
            check_dispatcher_config(config)
        console = Console()
        for table in config_tables(config):
            console.print(table)
        console.print(f"[green]ok[/]: {literal(path)}: {len(config.triggers)} triggers, "
                      f"{len(config.interventions)} interventions")
