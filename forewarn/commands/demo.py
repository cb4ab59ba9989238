"""``forewarn demo``: the main job, end to end on a real Kafka and Redis.

Today it brings up the stack, creates topics, produces the sample events, runs a
worker until it has consumed them, reads the dead-letter topic back and prints the
counts. It grows into the closed-loop demo as detection and interventions land.
"""

from __future__ import annotations

import collections
import time
import uuid
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from forewarn.devinfra import DevStack
from forewarn.devinfra.kafka import DEPLOY_DIR
from forewarn.devinfra.workers import WorkerProcess
from forewarn.commands.kafka_io import produce_file
from schemas.errors import ForewarnError
from streams.readback import read_topic
from streams.settings import Settings, Topics
from streams.topics import ensure_topics

__all__ = ["register"]

SAMPLE = DEPLOY_DIR / "sample" / "events.jsonl"


def run_demo(events: Path, timeout: float, console: Console, keep_stack: bool = False) -> dict[str, object]:
    stack = DevStack()
    was_running = all(s["running"] for s in stack.status().values())
    ends = stack.up(progress=lambda m: console.print(f"[dim]{m}[/]"))
    try:
        return _run(ends, events, timeout, console)
    finally:
        if not (keep_stack or was_running):
            stack.down()


def _run(ends, events: Path, timeout: float, console: Console) -> dict[str, object]:
    run = uuid.uuid4().hex[:8]
    topics = Topics(**{f: f"{getattr(Topics(), f)}.demo-{run}" for f in Topics.model_fields
                       if f not in ("partitions", "replication_factor")})
    settings = Settings(kafka_bootstrap_servers=ends.kafka_bootstrap_servers, redis_url=ends.redis_url,
                        topics=topics, app_id=f"forewarn-demo-{run}")
    ensure_topics(settings)
    produced, _ = produce_file(events, topics.usage_events, settings, console)
    env = {"KAFKA_BOOTSTRAP_SERVERS": ends.kafka_bootstrap_servers, "REDIS_URL": ends.redis_url,
           "FOREWARN_APP_ID": settings.app_id, "FOREWARN_TOPICS": topics.model_dump_json()}
    log = DevStack().state_dir / "logs" / f"demo-worker-{run}.log"
    worker = WorkerProcess(["worker", "--loglevel", "warning"], env, log).start()
    try:
        with console.status(f"worker consuming {produced} events"):
            m = worker.wait_for(lambda m: m.get("forewarn_events_consumed_total", 0) >= produced, timeout,
                                f"the worker to consume {produced} events")
    finally:
        worker.stop()
    dlq = read_topic(settings, topics.usage_events_dlq)
    by_reason = collections.Counter(r.headers.get("reason", b"?").decode() for r in dlq)
    return {"produced": produced, "consumed": int(m["forewarn_events_consumed_total"]),
            "valid": int(m["forewarn_events_valid_total"]), "dead_lettered": len(dlq),
            "by_reason": dict(sorted(by_reason.items())), "topic": topics.usage_events}


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        events: Path = typer.Option(SAMPLE, help="JSON Lines usage events to run through the pipeline."),
        timeout: float = typer.Option(180.0, help="Seconds to wait for the worker."),
        keep_stack: bool = typer.Option(False, help="Leave Kafka and Redis running afterwards."),
    ) -> None:
        """Run the main job: local Kafka + Redis, topics, produce, worker, counts."""
        console = Console()
        start = time.monotonic()
        result = run_demo(events, timeout, console, keep_stack)
        table = Table("produced", "consumed", "valid", "dead-lettered", title="Forewarn ingest")
        table.add_row(*(f"{result[k]:,}" for k in ("produced", "consumed", "valid", "dead_lettered")))
        console.print(table)
        reasons = Table("reason", "records", title="dead-letter topic by reason")
        for reason, n in result["by_reason"].items():
            reasons.add_row(reason, str(n))
        console.print(reasons)
        if result["valid"] + result["dead_lettered"] != result["produced"]:
            raise ForewarnError(f"counts do not reconcile: {result['valid']} valid + "
                                f"{result['dead_lettered']} dead-lettered != {result['produced']} produced")
        console.print(f"done in {time.monotonic() - start:.1f}s")
