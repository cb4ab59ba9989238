"""The ``forewarn`` command: one Typer app, commands registered from ``forewarn.commands``.

Each module in ``COMMAND_MODULES`` exposes ``register(app, bench)``: ``app`` is the
root command and ``bench`` the ``forewarn bench …`` group. Failures that Forewarn
anticipates (``ForewarnError``, and invalid settings in the environment) end with exit
code 1 and one line saying why; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape

from schemas.errors import ForewarnError

__all__ = ["build_app", "main"]

COMMAND_MODULES = [
    "forewarn.commands.dev",
    "forewarn.commands.kafka_io",
    "forewarn.commands.schema",
    "forewarn.commands.worker",
    "forewarn.commands.demo",
    "forewarn.commands.dlq",
    "forewarn.commands.simulate",
    "forewarn.commands.dispatcher",
    "forewarn.commands.outcomes",
    "forewarn.commands.bench_consumer",
    "forewarn.commands.bench_pipeline",
    "forewarn.commands.backtest",
    "forewarn.commands.config",
    "forewarn.commands.report",
    "forewarn.commands.evaluate",
]


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="forewarn",
        help="Forewarn: spot customers in trouble from usage events, intervene, and measure it.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    bench = typer.Typer(help="Benchmarks: each prints figures and ratios measured in one run.", no_args_is_help=True)
    app.add_typer(bench, name="bench")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app, bench)
    return app


def main(argv: list[str] | None = None) -> None:
    err = Console(stderr=True)
    try:
        build_app()(args=argv, standalone_mode=True)
    except ForewarnError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except (ValidationError, SettingsError) as exc:
        from forewarn.commands.common import settings_problem

        problem = settings_problem(exc)
        if problem is None:  # not the settings: a bug, shown with its traceback
            raise
        err.print(f"[bold red]error:[/] invalid setting {escape(problem)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
