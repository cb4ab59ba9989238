"""``forewarn dev up | down | status | env``: the local Kafka and Redis."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from forewarn.devinfra import DevStack
from forewarn.devinfra.signals import TerminationGuard

__all__ = ["register"]

_STATE_DIR = typer.Option(None, "--state-dir", help="Where data, logs and the state file live (default ~/.local/state/forewarn/dev).")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    dev = typer.Typer(help="Local infrastructure: a real Kafka 4 broker and a real Redis.", no_args_is_help=True)
    app.add_typer(dev, name="dev")

    @dev.command("up")
    def up(
        state_dir: Path = _STATE_DIR,
        kafka_port: int = typer.Option(None, help="Broker port (default: a free one)."),
        redis_port: int = typer.Option(None, help="Redis port (default: a free one)."),
        partitions: int = typer.Option(4, help="Default partition count for new topics."),
    ) -> None:
        """Start Kafka and Redis (or use KAFKA_BOOTSTRAP_SERVERS / REDIS_URL); harmless when already up."""
        console = Console(stderr=True)
        stack = DevStack(state_dir)
        # SIGTERM / SIGHUP while starting end like Ctrl-C: a server half started is stopped, not left behind.
        with TerminationGuard(), console.status("starting local Kafka and Redis") as status:
            ends = stack.up(kafka_port, redis_port, partitions, progress=lambda m: status.update(m))
        src_k = "configured" if ends.kafka_external else "local"
        src_r = "configured" if ends.redis_external else "local"
        from streams.health import masked_url

        redis_url = masked_url(ends.redis_url)  # REDIS_URL may carry a password: never printed
        console.print(f"Kafka ({src_k}) [bold]{ends.kafka_bootstrap_servers}[/]  Redis ({src_r}) [bold]{redis_url}[/]")
        console.print('Use them from a shell with: eval "$(forewarn dev env)"')

    @dev.command("down")
    def down(state_dir: Path = _STATE_DIR, wipe: bool = typer.Option(False, help="Also delete data and logs.")) -> None:
        """Stop the local Kafka and Redis started by 'dev up'."""
        stopped = DevStack(state_dir).down(wipe=wipe)
        Console(stderr=True).print("stopped " + (", ".join(stopped) if stopped else "nothing (not running)"))

    @dev.command("status")
    def status(state_dir: Path = _STATE_DIR) -> None:
        """Show what runs, where, and its log file."""
        table = Table("service", "running", "endpoint", "pid", "log")
        for name, info in DevStack(state_dir).status().items():
            table.add_row(name, "yes" if info["running"] else "no", info["endpoint"] or "-",
                          str(info["pid"] or "-"), info["log"] or "-")
        Console().print(table)

    @dev.command("env")
    def env(state_dir: Path = _STATE_DIR) -> None:
        """Print KAFKA_BOOTSTRAP_SERVERS=… and REDIS_URL=… lines for 'eval' in a shell."""
        ends = DevStack(state_dir).endpoints()
        typer.echo(f"export KAFKA_BOOTSTRAP_SERVERS={ends.kafka_bootstrap_servers}")
        typer.echo(f"export REDIS_URL={ends.redis_url}")
