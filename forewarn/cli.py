"""The ``forewarn`` command: one Typer app, commands registered from ``forewarn.commands``.

Each module in ``COMMAND_MODULES`` exposes ``register(app, bench)``: ``app`` is the
root command and ``bench`` the ``forewarn bench …`` group. Failures that Forewarn
anticipates (``ForewarnError``, and invalid settings in the environment) end with exit
code 1 and one line saying why; a usage error (a missing argument, a bad option value)
with click's exit code 2 and one line; anything else is a bug and keeps its traceback.
Messages are printed as plain text, never read as rich markup (they quote the user's
paths and values).
"""

from __future__ import annotations

import importlib
import sys

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console

from schemas.errors import ForewarnError

__all__ = ["build_app", "main"]

#: Click's base class of usage errors: typer's vendored copy (``typer._click``) or, in older typer, click's own.
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

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


def _usage_problem(exc: Exception) -> str:
    """Click's message for a usage error, and where to look: one line instead of typer's boxed panel."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    return f"{message.rstrip('.')}; see '{ctx.command_path} --help'" if ctx is not None else message


def main(argv: list[str] | None = None) -> None:
    from forewarn.commands.common import error_line

    err = Console(stderr=True)
    try:
        # not standalone: click's usage errors come here, to be one line like every other error
        code = build_app()(args=argv, standalone_mode=False)
    except _CLICK_ERROR as exc:
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one's help is already printed
            err.print(error_line(_usage_problem(exc)), highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted", highlight=False)
        sys.exit(1)
    except ForewarnError as exc:
        err.print(error_line(exc), highlight=False, soft_wrap=True)
        sys.exit(1)
    except (ValidationError, SettingsError) as exc:
        from forewarn.commands.common import settings_problem

        problem = settings_problem(exc)
        if problem is None:  # not the settings: a bug, shown with its traceback
            raise
        err.print(error_line(f"invalid setting {problem}"), highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
