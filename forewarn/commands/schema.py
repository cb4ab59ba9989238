"""``forewarn schema export``: write the contracts' JSON Schemas."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from forewarn.commands.common import literal
from forewarn.devinfra.kafka import DEPLOY_DIR
from schemas.export import write_schemas

__all__ = ["register"]


def register(app: typer.Typer, bench: typer.Typer) -> None:
    schema = typer.Typer(help="Published contracts.", no_args_is_help=True)
    app.add_typer(schema, name="schema")

    @schema.command("export")
    def export(out: Path = typer.Option(DEPLOY_DIR / "schemas", help="Directory to write into.")) -> None:
        """Write JSON Schema files of every published contract."""
        for path in write_schemas(out):
            Console().print(f"wrote {literal(path)}")
