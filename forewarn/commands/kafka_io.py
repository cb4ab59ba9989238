"""``forewarn topics create``, ``forewarn produce`` and ``forewarn bench produce``."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from forewarn.commands.common import input_problem, literal, load_settings
from schemas.errors import ForewarnError
from streams.producer import RecordProducer, account_key
from streams.topics import ensure_topics

__all__ = ["register", "produce_file"]


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=console)


def produce_file(path: Path, topic: str, settings, console: Console | None = None) -> tuple[int, float]:
    """Produce every line of a JSON Lines file as-is (key = account_id); returns (count, seconds)."""
    console = console or Console(stderr=True)
    problem = input_problem(path)
    if problem is None:
        try:
            lines = [ln for ln in path.read_bytes().splitlines() if ln.strip()]
        except OSError as exc:  # e.g. a read error of the disk
            problem = f"cannot be read ({exc.strerror or exc})"
    if problem is not None:
        raise ForewarnError(f"{path}: {problem}; give a JSON Lines file of usage events")
    from streams.health import preflight

    preflight(settings, redis=False)  # an unreachable broker: one line now, not a 60 s wait for acks
    producer = RecordProducer(settings)
    start = time.perf_counter()
    with _progress(console) as progress:
        task = progress.add_task(f"producing to {literal(topic)}", total=len(lines), rate="")
        producer.produce_many(topic, ((account_key(v), v) for v in lines),
                              on_progress=lambda n: progress.update(task, advance=n))
        producer.flush()
        seconds = time.perf_counter() - start
        progress.update(task, rate=f"{len(lines) / max(seconds, 1e-9):,.0f}/s")
    return producer.acked, seconds


def register(app: typer.Typer, bench: typer.Typer) -> None:
    topics = typer.Typer(help="Kafka topics of Forewarn.", no_args_is_help=True)
    app.add_typer(topics, name="topics")

    @topics.command("create")
    def create(partitions: int = typer.Option(None, help="Partitions for new topics (default: settings).")) -> None:
        """Create every Forewarn topic that does not exist yet (idempotent); refuse topics keyed differently."""
        from streams.health import preflight
        from streams.topics import check_keyed_alike

        settings = load_settings()
        preflight(settings, redis=False)  # an unreachable broker: one line now, not a 30 s wait
        wanted = partitions or settings.topics.partitions
        table = Table("topic", "partitions", "state")
        results = ensure_topics(settings, partitions=partitions)
        for r in results:
            state = "created" if r.created else "exists"
            if r.partitions != wanted:
                state += f" (not {wanted} as asked)"
            table.add_row(literal(r.name), str(r.partitions), state)
        Console().print(table)
        t = settings.topics
        counts = {r.name: r.partitions for r in results}
        # the workers join these by partition number (watermark markers; an account's events and decisions)
        check_keyed_alike({n: counts.get(n) for n in (t.usage_events, t.trigger_firings, t.intervention_decisions)})

    @app.command("produce")
    def produce(
        file: Path = typer.Argument(..., help="JSON Lines file, one usage event per line (sent byte-for-byte)."),
        topic: str = typer.Option(None, help="Target topic (default: the usage-events topic)."),
    ) -> None:
        """Produce a JSON Lines file to Kafka with an idempotent producer, keyed by account_id."""
        settings = load_settings()
        topic = topic or settings.topics.usage_events
        count, seconds = produce_file(file, topic, settings)
        Console().print(f"produced {count:,} records to {literal(topic)} in {seconds:.2f}s "
                        f"({count / max(seconds, 1e-9):,.0f}/s)")

    @bench.command("produce")
    def bench_produce(
        events: int = typer.Option(1_000_000, help="How many events to produce."),
        size: int = typer.Option(300, help="Approximate bytes per event."),
        accounts: int = typer.Option(10_000, help="Distinct account keys."),
    ) -> None:
        """Produce rate of one process with Forewarn's producer settings (target ≥ 150k events/s)."""
        import uuid

        settings = load_settings()
        topic = f"bench-produce-{uuid.uuid4().hex[:8]}"
        ensure_topics(settings, names=[topic])
        def event(i: int, pad: str) -> tuple[bytes, bytes]:
            acct = f"acct-{i % accounts:06d}"
            return acct.encode(), orjson.dumps({
                "event_id": f"e{i:012d}", "account_id": acct, "type": "feature.used",
                "occurred_at": "2026-01-05T10:00:00Z", "properties": {"feature": "reports", "pad": pad}})

        pad = "x" * max(0, size - len(event(0, "")[1]))
        records = [event(i, pad) for i in range(events)]
        mean = sum(len(v) for _, v in records) / len(records)
        producer = RecordProducer(settings)
        start = time.perf_counter()
        producer.produce_many(topic, records)
        producer.flush()
        seconds = time.perf_counter() - start
        rate = events / seconds
        table = Table("events", "mean bytes", "seconds", "events/s", "MB/s", "target", "met")
        table.add_row(f"{events:,}", f"{mean:.0f}", f"{seconds:.2f}", f"{rate:,.0f}",
                      f"{rate * mean / 1e6:.1f}", "≥ 150,000/s", "yes" if rate >= 150_000 else "no")
        Console().print(table)
        from streams.topics import delete_topics

        for failure in delete_topics(settings, [topic]):
            Console(stderr=True).print(f"[yellow]benchmark topic not deleted: {literal(failure)}[/]")
