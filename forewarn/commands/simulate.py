"""``forewarn simulate`` and ``forewarn bench simulate``: seeded customers, events and ground truth."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from forewarn.commands.common import literal
from forewarn.simulate import (
    ANY_TRIGGER,
    DEFAULT_LIFTS,
    PERSONAS,
    SEED_TRIGGERS,
    FileSink,
    NoiseOptions,
    Outreach,
    Simulation,
    SimulationConfig,
    SimulationConfigError,
    SimulationError,
    Truth,
    read_commands,
    simulate_to_dir,
)
from forewarn.devinfra.signals import TerminationGuard
from forewarn.simulate.output import StagedOutput, check_out_dir
from forewarn.simulate.simulation import DayBatch
from schemas.errors import ForewarnError

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = ["register", "parse_lifts", "known_lift_triggers"]

GENERATION_TARGET = 200_000  # events per second to file, from issue 4


def known_lift_triggers() -> list[str]:
    """Trigger names a ``--lift`` may give: the seed triggers, those of the configured triggers file, ``*``."""
    names = set(SEED_TRIGGERS)
    try:
        from streams.config import load_config
        from streams.settings import Settings

        names.update(load_config(Settings().config_path).triggers)
    except (ForewarnError, OSError, ValueError):  # no readable config file: the seed triggers stay known
        pass
    return [*sorted(names), ANY_TRIGGER]


def parse_lifts(items: list[str], known: Callable[[], list[str]] = known_lift_triggers) -> dict[str, float]:
    """``["payment_failing=0.4", "*=0"]`` over the default lifts; a trigger not in ``known()`` is refused.

    >>> parse_lifts(["payment_failing=0.4"])["payment_failing"]
    0.4
    >>> parse_lifts(["payment_failng=0.4"], known=lambda: ["payment_failing", "*"])
    Traceback (most recent call last):
    ...
    forewarn.simulate.errors.SimulationConfigError: --lift 'payment_failng=0.4': no trigger payment_failng; known: payment_failing, *
    """
    lifts = dict(DEFAULT_LIFTS)
    for item in items:
        trigger, sep, value = item.partition("=")
        trigger = trigger.strip()
        try:
            if not sep or not trigger:
                raise ValueError
            lift = float(value)
        except ValueError:
            raise SimulationConfigError(
                f"--lift {item!r}: write TRIGGER=PROBABILITY, e.g. --lift onboarding_stalled=0.3"
            ) from None
        if trigger not in DEFAULT_LIFTS:
            names = known()
            if trigger not in names:
                raise SimulationConfigError(f"--lift {item!r}: no trigger {trigger}; known: {', '.join(names)}")
        lifts[trigger] = lift
    return lifts


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[events]} events · {task.fields[rate]}"), TimeElapsedColumn(),
                    console=console)


def _summary_tables(truth: Truth, seconds: float) -> list[Table]:
    s = truth.summary
    noise = s["noise"]
    events = Table("event type", "events", title=f"events ({noise['lines']:,} lines in {seconds:.1f}s)")
    for kind, count in s["events_by_type"].items():
        events.add_row(kind, f"{count:,}")
    events.add_row("[dim]duplicate lines[/]", f"{noise['duplicate_lines']:,}")
    events.add_row("[dim]delayed (out of order)[/]", f"{noise['delayed_events']:,}")
    events.add_row("[dim]malformed lines[/]", f"{noise['malformed_lines']:,}")

    personas = Table("persona", "accounts", "story", title="personas")
    for name, count in s["personas"].items():
        personas.add_row(name, f"{count:,}", PERSONAS[name].story)

    outcome = Table("truth", "count", title=f"ground truth (events up to {s['max_occurred_at']})")
    for trigger, count in s["firings_by_trigger"].items():
        outcome.add_row(f"expected firings: {trigger}", f"{count:,}")
    outcome.add_row("churned accounts", f"{s['churned_accounts']:,}")
    treated = s["treatments"]
    if treated["applied"]:
        outcome.add_row("interventions applied", f"{treated['applied']:,}")
        outcome.add_row("  rescued by the planted effect", f"{treated['rescued']:,}")
        outcome.add_row("  success (natural success)", f"{treated['success']:,} ({treated['natural_success']:,})")
    return [events, personas, outcome]


KAFKA_TARGET = 100_000


def _configured_broker():
    """Settings of a reachable broker (environment or a running dev stack), else None."""
    from forewarn.commands.common import load_settings
    from forewarn.devinfra.kafka import wait_for_kafka

    settings = load_settings()
    if not (os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("FOREWARN_KAFKA_BOOTSTRAP_SERVERS")):
        from forewarn.devinfra import DevInfraError, DevStack

        try:
            DevStack().endpoints()
        except DevInfraError:
            return None
    try:
        wait_for_kafka(settings.kafka_bootstrap_servers, timeout=5, client_config=settings.confluent_config())
    except Exception:  # unreachable: measured as 'not measured', with the reason in the row
        return None
    return settings


def _reachable_broker() -> "Settings":
    """The settings of the broker ``--to-kafka`` produces to, once it answers; else one line saying so.

    Asked with a client that logs nothing: librdkafka would print a line per failed connection
    attempt (hundreds before ``ensure_topics`` gives up) ahead of the error.
    """
    from forewarn.commands.common import load_settings
    from forewarn.devinfra import DevInfraError
    from forewarn.devinfra.kafka import wait_for_kafka

    settings = load_settings()
    try:
        wait_for_kafka(settings.kafka_bootstrap_servers, timeout=5,
                       client_config=settings.confluent_config(**{"log_level": 0}))
    except DevInfraError as exc:
        raise SimulationError(f"--to-kafka: {exc}; start one with 'forewarn dev up' or set "
                              "KAFKA_BOOTSTRAP_SERVERS") from None
    return settings


def _simulate_to_kafka(config: SimulationConfig, out: Path, fed: list[Outreach] | None, rate: float,
                       on_day: Callable[[DayBatch], None], settings: "Settings") -> Truth:
    """Like ``simulate_to_dir`` (with the commands already read), every day's records also produced to Kafka."""
    from forewarn.simulate import run_simulation
    from forewarn.simulate.kafka_sink import KafkaSink, Tee
    from streams.topics import ensure_topics

    ensure_topics(settings)
    sim = Simulation(config)
    with StagedOutput(out) as staged:
        with FileSink(staged.events) as file_sink, KafkaSink(settings) as kafka:
            truth = run_simulation(sim, Tee(file_sink, kafka), fed, rate or None, on_day)
        truth.write(staged.truth)
        staged.publish()
    return truth


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        out: Path = typer.Option(..., help="Directory for events.jsonl and truth/ (created if missing)."),
        accounts: int = typer.Option(1000, help="Number of customer accounts."),
        days: int = typer.Option(30, help="Number of simulated UTC days."),
        seed: int = typer.Option(0, help="Random seed; the same seed gives byte-identical output."),
        start: str = typer.Option("2026-01-01", help="First simulated day, YYYY-MM-DD (UTC)."),
        duplicates: float = typer.Option(0.005, help="Share of events delivered twice (same event_id)."),
        out_of_order: float = typer.Option(0.02, help="Share of events delayed by less than the lateness."),
        malformed: float = typer.Option(0.001, help="Share of output lines that break the event contract."),
        lateness: int = typer.Option(300, help="Allowed lateness in seconds; no delay reaches it."),
        lift: list[str] = typer.Option([], help="Planted effect TRIGGER=P (repeatable; '*' = other triggers)."),
        commands: Path = typer.Option(None, help="JSON Lines intervention commands to feed back (file mode)."),
        rate: float = typer.Option(0, help="Cap on lines per second (0: as fast as possible)."),
        to_kafka: bool = typer.Option(False, "--to-kafka", help="Also produce every line to the usage-events topic."),
    ) -> None:
        """Write seeded usage events (DIR/events.jsonl) and their ground truth (DIR/truth/).

        Intervention commands from --commands change the customers' behaviour from
        their decided_at on, with the planted --lift per trigger. With --to-kafka
        every line also goes to the usage-events topic (KAFKA_BOOTSTRAP_SERVERS or
        the running 'forewarn dev up' stack), keyed by account, at --rate.
        """
        config = SimulationConfig(
            accounts=accounts, days=days, seed=seed, start=start,
            noise=NoiseOptions(duplicates, out_of_order, malformed, lateness),
            lifts=parse_lifts(lift),
        )
        if rate < 0:
            raise SimulationConfigError(f"--rate {rate:g}: a cap on lines per second is > 0 (0: no cap)")
        check_out_dir(out)  # a bad --out is refused before the progress bar starts
        if to_kafka:  # the commands are checked before Kafka is asked or anything is written
            fed = list(read_commands(commands)) if commands is not None else None
            broker = _reachable_broker()
        err = Console(stderr=True)
        began = time.perf_counter()
        lines = 0
        # SIGTERM/SIGHUP end the run like Ctrl-C, so the half-written files are removed, not left behind
        with TerminationGuard(), _progress(err) as progress:
            task = progress.add_task("simulating days", total=days, events="0", rate="")

            def on_day(batch: DayBatch) -> None:
                nonlocal lines
                lines += len(batch.records)
                elapsed = max(time.perf_counter() - began, 1e-9)
                progress.update(task, advance=1, events=f"{lines:,}", rate=f"{lines / elapsed:,.0f}/s")

            if to_kafka:
                truth = _simulate_to_kafka(config, out, fed, rate, on_day, broker)
            else:
                truth = simulate_to_dir(config, out, commands_path=commands, rate=rate or None, on_day=on_day)
        seconds = time.perf_counter() - began
        console = Console()
        for table in _summary_tables(truth, seconds):
            console.print(table)
        console.print(f"wrote {literal(out / 'events.jsonl')} and {literal(out / 'truth')}/")

    @bench.command("simulate")
    def bench_simulate(
        accounts: int = typer.Option(3000, help="Number of customer accounts."),
        days: int = typer.Option(30, help="Number of simulated days."),
        seed: int = typer.Option(7, help="Random seed."),
        to_kafka: bool = typer.Option(True, help="Also measure generation straight to Kafka (needs a broker)."),
    ) -> None:
        """Generation speed of the simulator to a file (target ≥ 200k events/s) and to Kafka (≥ 100k/s)."""
        config = SimulationConfig(accounts=accounts, days=days, seed=seed)
        with tempfile.TemporaryDirectory(prefix="forewarn-bench-sim-") as tmp:
            path = Path(tmp) / "events.jsonl"
            began, began_cpu = time.perf_counter(), time.process_time()
            sim = Simulation(config)
            with FileSink(path) as sink:
                while not sim.done:
                    sink(sim.step().records)
            generated, generated_cpu = time.perf_counter() - began, time.process_time() - began_cpu
            size = path.stat().st_size
            truth = sim.truth()
            truth.write(Path(tmp) / "truth")
            total = time.perf_counter() - began
        lines = sink.lines
        rate = lines / generated
        # On a shared machine the wall clock also counts other people's work; CPU time does not.
        cpu_rate = lines / generated_cpu
        table = Table("measure", "value", title=f"forewarn bench simulate: {accounts:,} accounts × {days} days, to file")
        table.add_row("lines (events + duplicates + malformed)", f"{lines:,} ({size / 1e6:.1f} MB)")
        table.add_row("generation to file, wall", f"{generated:.2f} s = {rate:,.0f} lines/s ({size / 1e6 / generated:.1f} MB/s)")
        table.add_row("generation to file, CPU", f"{generated_cpu:.2f} s = {cpu_rate:,.0f} lines/s")
        table.add_row("ground truth (reference triggers + files)", f"{total - generated:.2f} s")
        table.add_row("end to end, wall", f"{lines / total:,.0f} lines/s")
        table.add_row(f"target ≥ {GENERATION_TARGET:,} lines/s (wall)", "met" if rate >= GENERATION_TARGET else "not met")
        broker = _configured_broker() if to_kafka else None
        if to_kafka and broker is None:
            table.add_row("to Kafka", "not measured: no broker (set KAFKA_BOOTSTRAP_SERVERS or run 'forewarn dev up')")
        if broker is not None:
            from forewarn.simulate.kafka_sink import KafkaSink
            from streams.topics import delete_topics, ensure_topics

            settings = broker
            topic = f"bench-simulate-{os.getpid()}-{int(time.time())}"
            ensure_topics(settings, names=[topic])
            sim = Simulation(config)
            began = time.perf_counter()
            with KafkaSink(settings, topic) as kafka:
                while not sim.done:
                    kafka(sim.step().records)
            produced = time.perf_counter() - began
            kafka_rate = kafka.records / produced
            table.add_row("generation to Kafka (all acked), wall",
                          f"{produced:.2f} s = {kafka_rate:,.0f} lines/s")
            table.add_row(f"target ≥ {KAFKA_TARGET:,} lines/s to Kafka",
                          "met" if kafka_rate >= KAFKA_TARGET else "not met")
            for failure in delete_topics(settings, [topic]):
                Console(stderr=True).print(f"[yellow]benchmark topic not deleted: {literal(failure)}[/]")
        Console().print(table)
