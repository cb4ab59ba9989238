"""``forewarn bench consumer``: events/s of every consumer path, on one broker and one data set.

One invocation produces the events once (contract JSON of about 280 bytes, keyed
by account) and then runs, each with 1 and 2 worker processes in a fresh
consumer group:

- ``raw``: aiokafka ``getmany`` + orjson, partitions assigned by hand — the
  ceiling of the client Faust itself uses;
- ``faust``: a stock Faust agent that does nothing per event;
- ``batch-noop``: the batch path, parsing and counting each chunk in memory;
- ``batch-redis``: the batch path applying per-account counts to Redis, one Lua
  call per chunk with the partition's applied offset;
- ``quix``: Quix Streams counting per key in its RocksDB state (the peer users
  pick instead of Faust), run from its own virtualenv because it pins an older
  confluent-kafka than Forewarn; skipped with a note when it cannot be installed.

Workers print progress lines (highest offset per partition, a few times a
second). A run's rate is measured over its steady window: from the last
rebalance (every worker has its partitions) to the moment the first worker runs
out of data, or ``--window`` seconds, whichever is first; progress counts
offsets advanced, so redelivered records do not inflate it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["register", "PATHS", "RunResult", "steady_rate"]

PATHS = ("raw", "faust", "batch-noop", "batch-redis", "quix")
LABELS = {
    "raw": "aiokafka getmany + orjson (ceiling)",
    "faust": "stock Faust agent, no-op",
    "batch-noop": "batch path, count in memory",
    "batch-redis": "batch path + Redis Lua count",
    "quix": "Quix Streams, RocksDB count",
}
QUIX_VERSION = "3.28.1"
DEFAULT_QUIX_VENV = Path.home() / ".cache" / "forewarn" / "bench-quix"
PROGRESS_INTERVAL = 0.05

# Targets of issue 11, per worker process, for the batch path with Redis.
TARGET_PER_WORKER = 100_000
TARGET_VS_FAUST = 6.0
TARGET_VS_QUIX = 1.5
TARGET_SCALING = 1.7


def _emit(obj: dict[str, Any]) -> None:
    os.write(1, orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS) + b"\n")


# --------------------------------------------------------------------------- workers


async def _raw_worker(args: argparse.Namespace) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.batching.count_worker import wait_for_start_signal
    from streams.settings import Settings

    settings = Settings()
    wait_for_start_signal(args.start_when)
    mine = [p for p in range(args.partitions) if p % args.count == args.index]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=settings.consumer_max_fetch_size,
        max_poll_records=settings.max_poll_records,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(args.topic, p) for p in mine])
        await consumer.seek_to_beginning()
        _emit({"event": "assigned", "t": time.time(), "pid": os.getpid(), "partitions": mine})
        records, offsets, first_t, last_report = 0, {}, None, 0.0
        loads = orjson.loads
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=settings.max_poll_records)
            for tp, recs in batch.items():
                if first_t is None:
                    first_t = time.time()
                for r in recs:
                    loads(r.value)
                records += len(recs)
                offsets[tp.partition] = recs[-1].offset
            now = time.time()
            if now - last_report >= PROGRESS_INTERVAL:
                last_report = now
                _emit({"event": "progress", "t": now, "pid": os.getpid(), "records": records,
                       "offsets": offsets, "first_t": first_t})
    finally:
        await consumer.stop()


def _faust_worker(args: argparse.Namespace) -> None:
    import faust

    from streams.batching.count_worker import wait_for_start_signal
    from streams.settings import Settings

    settings = Settings()
    app = faust.App(
        args.group, broker=f"kafka://{settings.kafka_bootstrap_servers}", value_serializer="raw",
        key_serializer="raw", web_enabled=False, datadir=tempfile.mkdtemp(prefix="fw-bench-faust-"),
        consumer_max_fetch_size=settings.consumer_max_fetch_size, broker_max_poll_records=settings.max_poll_records,
        consumer_auto_offset_reset="earliest", topic_allow_declare=False, store="memory://",
        table_standby_replicas=0,
    )
    progress: dict[str, Any] = {"records": 0, "offsets": {}, "first_t": None}

    @app.agent(app.topic(args.topic, value_serializer="raw", key_serializer="raw"))
    async def do_nothing(stream):
        offsets = progress["offsets"]
        async for event in stream.events():
            if progress["first_t"] is None:
                progress["first_t"] = time.time()
            progress["records"] += 1
            offsets[event.message.partition] = event.message.offset

    @app.on_partitions_assigned.connect
    async def on_assigned(app, assigned, **kwargs) -> None:  # noqa: ARG001 - Faust signal signature
        _emit({"event": "assigned", "t": time.time(), "pid": os.getpid(),
               "partitions": sorted(tp.partition for tp in assigned if tp.topic == args.topic)})

    @app.timer(PROGRESS_INTERVAL)
    async def report() -> None:
        _emit({"event": "progress", "t": time.time(), "pid": os.getpid(), **progress})

    wait_for_start_signal(args.start_when)
    faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


# Runs under the Quix virtualenv's interpreter, which has neither Forewarn nor Faust.
QUIX_WORKER = r'''
import json, os, sys, tempfile, threading, time
from quixstreams import Application, message_context

cfg = json.loads(sys.argv[1])
progress = {"records": 0, "offsets": {}, "first_t": None}

def emit(obj):
    os.write(1, (json.dumps(obj) + "\n").encode())

def report():
    while True:
        time.sleep(cfg["interval"])
        emit({"event": "progress", "t": time.time(), "pid": os.getpid(), "records": progress["records"],
              "offsets": dict(progress["offsets"]), "first_t": progress["first_t"]})

app = Application(
    broker_address=cfg["bootstrap"], consumer_group=cfg["group"], auto_offset_reset="earliest",
    state_dir=tempfile.mkdtemp(prefix="fw-bench-quix-"), loglevel="WARNING",
    consumer_extra_config={"max.partition.fetch.bytes": cfg["fetch_bytes"]},
)
topic = app.topic(cfg["topic"], value_deserializer="json", key_deserializer="str")

def count(value, state):
    state.set("count", state.get("count", 0) + 1)
    ctx = message_context()
    if progress["first_t"] is None:
        progress["first_t"] = time.time()
    progress["records"] += 1
    progress["offsets"][ctx.partition] = ctx.offset

sdf = app.dataframe(topic)
sdf = sdf.update(count, stateful=True)
emit({"event": "ready", "t": time.time(), "pid": os.getpid()})
while not os.path.exists(cfg["start_when"]):
    time.sleep(0.01)
threading.Thread(target=report, daemon=True).start()
app.run()
'''


def _worker_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="python -m forewarn.commands.bench_consumer")
    p.add_argument("--role", choices=("raw", "faust"), required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--start-when", required=True, metavar="PATH")
    args = p.parse_args(argv)
    if args.role == "raw":
        asyncio.run(_raw_worker(args))
    else:
        _faust_worker(args)


# --------------------------------------------------------------------------- measuring


@dataclass
class WorkerProcess:
    proc: subprocess.Popen
    lines: list[dict[str, Any]] = field(default_factory=list)
    peak_rss_mb: float | None = None
    cpu_at_go: float | None = None
    cpu_at_end: float | None = None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the process so far."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def start_reader(self) -> None:
        def read() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                try:
                    self.lines.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    continue

        threading.Thread(target=read, daemon=True).start()

    def sample_rss(self) -> None:
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.peak_rss_mb = int(line.split()[1]) / 1024
        except OSError:
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class RunResult:
    path: str
    workers: int
    rate: float | None
    window_s: float
    total_s: float | None
    peak_rss_mb: float | None
    #: events advanced per CPU-second of the worker processes (after start-up): what one
    #: core buys on this path, whatever else the machine is busy with
    per_cpu_second: float | None = None
    note: str = ""


def steady_rate(workers_lines: list[list[dict[str, Any]]], ends: dict[int, int], window: float
                ) -> tuple[float | None, float, float | None, str]:
    """(events/s over the steady window, window length, total seconds if all done, note).

    Progress is the sum over partitions of the highest offset any worker reported,
    so records read twice after a rebalance count once.

    >>> w = [[{"event": "assigned", "t": 0.0, "partitions": [0]},
    ...       {"event": "progress", "t": 1.0, "offsets": {"0": 99}, "first_t": 0.5},
    ...       {"event": "progress", "t": 2.0, "offsets": {"0": 299}, "first_t": 0.5}]]
    >>> steady_rate(w, {0: 300}, window=10)
    (200.0, 1.5, 1.5, '')
    """
    timeline: list[tuple[float, int, int]] = []
    for lines in workers_lines:
        for ln in lines:
            if ln.get("event") == "progress":
                timeline.extend((ln["t"], int(p), o) for p, o in ln["offsets"].items())
    timeline.sort()
    done_t = None
    best: dict[int, int] = {}
    for ts, p, o in timeline:
        best[p] = max(o, best.get(p, -1))
        if all(best.get(q, -1) >= ends[q] - 1 for q in ends if ends[q] > 0):
            done_t = ts
            break
    # rebalances after the data ran out (the harness stopping workers) are not part of the run
    horizon = done_t if done_t is not None else float("inf")
    stable_at: list[float] = []
    firsts: list[float] = []
    finished_at: list[float] = []
    for lines in workers_lines:
        assigned = [ln for ln in lines if ln.get("event") == "assigned" and ln["t"] <= horizon]
        progress = [ln for ln in lines if ln.get("event") == "progress"]
        first = next((ln["first_t"] for ln in progress if ln.get("first_t")), None)
        if first is not None:
            firsts.append(first)
        if assigned:
            stable_at.append(assigned[-1]["t"])
        elif first is not None:
            stable_at.append(first)  # no rebalance callback (Quix): its first record marks its assignment
        mine = {int(p) for p in assigned[-1]["partitions"]} if assigned else None
        for ln in progress:
            offsets = {int(p): o for p, o in ln["offsets"].items()}
            owned = mine if mine is not None else set(offsets)
            if stable_at and ln["t"] >= stable_at[-1] and owned and all(
                    offsets.get(p, -1) >= ends[p] - 1 for p in owned if ends.get(p, 0) > 0):
                finished_at.append(ln["t"])
                break
    total = (done_t - min(firsts)) if (done_t is not None and firsts) else None
    if not timeline:
        return None, 0.0, None, "no progress reported"
    settled = len(stable_at) == len(workers_lines)
    # steady: every worker has its final partitions and has started reading them
    start = max(stable_at + firsts)
    end = min(min(finished_at) if finished_at else float("inf"), start + window, timeline[-1][0])
    if not settled or end - start < 0.5:
        # the data ran out before the group settled: fall back to the whole run
        if total:
            return sum(ends.values()) / total, total, total, "whole run (no steady window)"
        return None, 0.0, None, "no steady window"

    def events_at(t: float) -> int:
        best: dict[int, int] = {}
        for ts, p, o in timeline:
            if ts > t:
                break
            if o > best.get(p, -1):
                best[p] = o
        return sum(o + 1 for o in best.values())

    return (events_at(end) - events_at(start)) / (end - start), end - start, total, ""


def _got_partitions(lines: list[dict[str, Any]]) -> bool:
    return any((ln.get("event") == "assigned" and ln["partitions"]) or
               (ln.get("event") == "progress" and ln.get("first_t")) for ln in lines)


def _events_advanced(workers_lines: list[list[dict[str, Any]]]) -> int:
    """Sum over partitions of the highest offset reported + 1: events consumed, each once."""
    best: dict[int, int] = {}
    for lines in workers_lines:
        for ln in lines:
            if ln.get("event") == "progress":
                for p, o in ln["offsets"].items():
                    best[int(p)] = max(o, best.get(int(p), -1))
    return sum(o + 1 for o in best.values())


class Bench:
    def __init__(self, settings, console: Console, events: int, partitions: int, window: float,
                 quix_python: Path | None):
        self.settings = settings
        self.console = console
        self.events = events
        self.partitions = partitions
        self.window = window
        self.quix_python = quix_python
        self.run_id = uuid.uuid4().hex[:8]
        self.topic = f"bench-consumer-{self.run_id}"
        self.namespace = f"bench-{self.run_id}"
        self.ends: dict[int, int] = {}
        self.groups: list[str] = []
        self.logs = Path(tempfile.mkdtemp(prefix="forewarn-bench-consumer-"))
        self.env = dict(os.environ)
        self.env["KAFKA_BOOTSTRAP_SERVERS"] = settings.kafka_bootstrap_servers
        self.env["REDIS_URL"] = settings.redis_url.get_secret_value()

    def prepare(self) -> float:
        from streams.batching.loadgen import create_topic, end_offsets, produce_events

        create_topic(self.settings, self.topic, self.partitions)
        began = time.monotonic()
        produce_events(self.settings, self.topic, self.events)
        took = time.monotonic() - began
        self.ends = end_offsets(self.settings, self.topic, self.partitions)
        if sum(self.ends.values()) != self.events:
            raise typer.BadParameter(f"topic {self.topic} holds {sum(self.ends.values())} events, not {self.events}")
        return took

    def _command(self, path: str, index: int, count: int, group: str, go: Path) -> list[str]:
        py = sys.executable
        if path in ("raw", "faust"):
            return [py, "-m", "forewarn.commands.bench_consumer", "--role", path, "--topic", self.topic,
                    "--group", group, "--partitions", str(self.partitions), "--index", str(index),
                    "--count", str(count), "--start-when", str(go)]
        if path in ("batch-noop", "batch-redis"):
            return [py, "-m", "streams.batching.count_worker", "--topic", self.topic, "--group", group,
                    "--namespace", self.namespace, "--mode", "redis" if path == "batch-redis" else "noop",
                    "--progress-interval", str(PROGRESS_INTERVAL), "--ttl", "3600", "--loglevel", "info",
                    "--start-when", str(go)]
        cfg = {"bootstrap": self.settings.kafka_bootstrap_servers, "group": group, "topic": self.topic,
               "interval": PROGRESS_INTERVAL, "fetch_bytes": self.settings.consumer_max_fetch_size,
               "start_when": str(go)}
        return [str(self.quix_python), "-c", QUIX_WORKER, orjson.dumps(cfg).decode()]

    def run(self, path: str, count: int) -> RunResult:
        group = f"bench-{path}-{count}-{self.run_id}"
        self.groups.append(group)
        if path == "batch-redis":
            self._clear_redis()
        go = self.logs / f"go-{path}-{count}"
        workers = []
        for i in range(count):
            with open(self.logs / f"{path}-{count}w-{i}.log", "wb") as log:
                proc = subprocess.Popen(self._command(path, i, count, group, go), stdout=subprocess.PIPE,
                                        stderr=log, env=self.env)
            worker = WorkerProcess(proc)
            worker.start_reader()
            workers.append(worker)
        note = ""
        # every worker imports and connects first, then all join the group at once,
        # so the rebalance that spreads the partitions happens before the work does
        ready_by = time.monotonic() + 120
        while time.monotonic() < ready_by and not all(
                any(ln.get("event") == "ready" for ln in w.lines) or w.proc.poll() is not None for w in workers):
            time.sleep(0.05)
        for w in workers:
            w.cpu_at_go = w.cpu_seconds()
        go.touch()
        started = time.monotonic()
        deadline = started + 90 + self.window + self.events / 5_000
        try:
            while time.monotonic() < deadline:
                time.sleep(0.2)
                for w in workers:
                    w.sample_rss()
                if any(w.proc.poll() is not None for w in workers):
                    note = "a worker exited early"
                    break
                rate, window_s, total, _ = steady_rate([w.lines for w in workers], self.ends, self.window)
                if total is not None or window_s >= self.window:
                    break
                if time.monotonic() - started > 60 and not all(_got_partitions(w.lines) for w in workers):
                    note = "a worker had no partitions 60 s after start"
                    break
            else:
                note = "timed out"
        finally:
            for w in workers:
                w.cpu_at_end = w.cpu_seconds()
                w.stop()
        rate, window_s, total, why = steady_rate([w.lines for w in workers], self.ends, self.window)
        peaks = [w.peak_rss_mb for w in workers if w.peak_rss_mb is not None]
        cpu = [w.cpu_at_end - w.cpu_at_go for w in workers if w.cpu_at_end is not None and w.cpu_at_go is not None]
        advanced = _events_advanced([w.lines for w in workers])
        per_cpu = advanced / sum(cpu) if cpu and len(cpu) == len(workers) and sum(cpu) > 0 else None
        return RunResult(path, count, rate, window_s, total, max(peaks) if peaks else None, per_cpu, note or why)

    def _clear_redis(self) -> None:
        import redis.asyncio as aioredis

        from streams.batching.counts import AccountCountStore

        async def clear() -> None:
            client = aioredis.from_url(self.settings.redis_url.get_secret_value())
            try:
                await AccountCountStore(client, self.namespace).clear(self.topic, range(self.partitions))
            finally:
                await client.aclose()

        asyncio.run(clear())

    def cleanup(self) -> None:
        from streams.topics import admin_client

        self._clear_redis()
        try:
            admin = admin_client(self.settings)  # held: a dropped client cancels its own requests
            # Faust subscribes each group to "<group>-__assignor-__leader", which an
            # auto-creating broker creates: remove those with the data topic
            existing = admin.list_topics(timeout=10).topics
            doomed = [self.topic] + [t for g in self.groups if (t := f"{g}-__assignor-__leader") in existing]
            futures = admin.delete_topics(doomed, operation_timeout=30)
            for f in futures.values():
                f.result(30)
        except Exception as exc:  # a leftover topic is harmless; say so
            self.console.print(f"[yellow]note:[/] could not delete {escape(str(self.topic))}: {escape(str(exc))}")


# --------------------------------------------------------------------------- quix venv


def ensure_quix(python: Path | None, install: bool, console: Console) -> tuple[Path | None, str]:
    """The interpreter of a virtualenv with Quix Streams, or None and why not."""
    candidate = python or DEFAULT_QUIX_VENV / "bin" / "python"
    check = [str(candidate), "-c", "import quixstreams; print(quixstreams.__version__)"]
    if candidate.exists():
        done = subprocess.run(check, capture_output=True, text=True)
        if done.returncode == 0:
            return candidate, done.stdout.strip()
    if python is not None or not install:
        return None, f"no Quix Streams at {candidate} (pass --install-quix to create it)"
    console.print(f"[dim]creating {DEFAULT_QUIX_VENV} with quixstreams=={QUIX_VERSION} (its own virtualenv: it "
                  f"pins an older confluent-kafka than Forewarn)…[/]")
    steps = [[sys.executable, "-m", "venv", str(DEFAULT_QUIX_VENV)],
             [str(DEFAULT_QUIX_VENV / "bin" / "pip"), "install", "-q", f"quixstreams=={QUIX_VERSION}"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"quixstreams not installable here: {(done.stderr or done.stdout).strip()[-300:]}"
    done = subprocess.run(check, capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"quixstreams installed but does not import: {done.stderr.strip()[-300:]}"
    return candidate, done.stdout.strip()


# --------------------------------------------------------------------------- report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _fmt_rate(r: RunResult | None) -> str:
    if r is None or r.rate is None:
        return "n/a"
    return f"{r.rate:,.0f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def build_tables(results: dict[tuple[str, int], RunResult], paths: list[str], counts: list[int]
                 ) -> tuple[list[list[str]], list[list[str]]]:
    """Rows of the figures table and of the targets table (plain strings, for rich and markdown)."""
    def rate(path: str, n: int) -> float | None:
        r = results.get((path, n))
        return r.rate if r else None

    figures = []
    for path in paths:
        row = [LABELS[path]]
        for n in counts:
            row.append(_fmt_rate(results.get((path, n))))
        one, two = rate(path, 1), rate(path, 2)
        row.append(f"{two / one:.2f}×" if one and two else "n/a")
        vs_faust = _ratio(rate(path, 1), rate("faust", 1))
        row.append(f"{vs_faust:.1f}×" if vs_faust else "n/a")
        for n in counts:
            r = results.get((path, n))
            row.append(f"{r.per_cpu_second:,.0f}" if r and r.per_cpu_second else "n/a")
        peaks = [results[(path, n)].peak_rss_mb for n in counts if (path, n) in results
                 and results[(path, n)].peak_rss_mb]
        row.append(f"{max(peaks):.0f}" if peaks else "n/a")
        notes = [f"{n}w: {results[(path, n)].note}" for n in counts if (path, n) in results and results[(path, n)].note]
        row.append("; ".join(notes))
        figures.append(row)

    one = rate("batch-redis", 1)
    checks = [
        ("batch + Redis, events/s per worker", f"≥ {TARGET_PER_WORKER:,}", one, TARGET_PER_WORKER, "{:,.0f}"),
        ("batch + Redis ÷ stock Faust (1 worker)", f"≥ {TARGET_VS_FAUST}×", _ratio(one, rate("faust", 1)),
         TARGET_VS_FAUST, "{:.1f}×"),
        ("batch + Redis ÷ Quix Streams (1 worker)", f"≥ {TARGET_VS_QUIX}×", _ratio(one, rate("quix", 1)),
         TARGET_VS_QUIX, "{:.2f}×"),
        ("batch + Redis, 2 workers ÷ 1 worker", f"≥ {TARGET_SCALING}×", _ratio(rate("batch-redis", 2), one),
         TARGET_SCALING, "{:.2f}×"),
    ]
    targets = []
    for name, target, value, threshold, fmt in checks:
        if value is None:
            targets.append([name, target, "n/a", "not measured"])
        else:
            targets.append([name, target, fmt.format(value), "met" if value >= threshold else "NOT met"])
    return figures, targets


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @bench.command("consumer")
    def consumer(
        events: int = typer.Option(1_000_000, min=10_000, help="Events produced once and read by every run."),
        quick: bool = typer.Option(False, "--quick", help="200,000 events and 8 s windows: a smoke run."),
        partitions: int = typer.Option(4, min=1, help="Partitions of the benchmark topic."),
        paths: str = typer.Option(",".join(PATHS), help=f"Comma-separated subset of: {', '.join(PATHS)}."),
        workers: str = typer.Option("1,2", help="Worker-process counts to run each path with."),
        window: float = typer.Option(15.0, min=2.0, help="Longest steady window per run, in seconds."),
        quix_python: Path = typer.Option(None, help="Python of a virtualenv with quixstreams installed."),
        install_quix: bool = typer.Option(True, help=f"Create {DEFAULT_QUIX_VENV} with quixstreams if missing."),
        record: Path = typer.Option(None, help="Append the results as a section to this markdown file."),
    ) -> None:
        """Events/s of raw aiokafka, stock Faust, the batch path (no-op and with Redis) and Quix Streams."""
        from streams.settings import Settings

        console = Console(width=max(Console().width, 150))
        if quick:
            events, window = min(events, 200_000), min(window, 8.0)
        chosen = [p.strip() for p in paths.split(",") if p.strip()]
        unknown = [p for p in chosen if p not in PATHS]
        if unknown:
            raise typer.BadParameter(f"unknown path(s) {unknown}; choose from {', '.join(PATHS)}")
        counts = sorted({int(n) for n in workers.split(",")})
        settings = Settings()
        notes: list[str] = []
        quix_py = None
        if "quix" in chosen:
            quix_py, detail = ensure_quix(quix_python, install_quix, console)
            if quix_py is None:
                chosen.remove("quix")
                notes.append(f"Quix Streams skipped: {detail}")
                console.print(f"[yellow]note:[/] Quix Streams skipped: {escape(str(detail))}")
            else:
                notes.append(f"Quix Streams {detail}")

        load_before = os.getloadavg()[0]
        runner = Bench(settings, console, events, partitions, window, quix_py)
        console.print(f"producing {events:,} events into {runner.topic} ({partitions} partitions)…")
        took = runner.prepare()
        console.print(f"[dim]produced in {took:.1f} s[/]")
        results: dict[tuple[str, int], RunResult] = {}
        try:
            for path in chosen:
                for n in counts:
                    console.print(f"[bold]{LABELS[path]}[/] with {n} worker{'s' if n > 1 else ''}…", end=" ")
                    result = results[(path, n)] = runner.run(path, n)
                    console.print(f"{_fmt_rate(result)} events/s over {result.window_s:.1f} s"
                                  + (f" [yellow]({result.note})[/]" if result.note else ""))
        finally:
            runner.cleanup()

        figures, targets = build_tables(results, chosen, counts)
        header = ["path"] + [f"{n} worker{'s' if n > 1 else ''}, events/s" for n in counts] + [
            "2 ÷ 1", "÷ stock Faust"] + [f"{n}w events per CPU-s" for n in counts] + ["peak RSS MB", "notes"]
        table = Table(title=f"Consumer paths: {events:,} events, {partitions} partitions, "
                            f"{os.cpu_count()} cores ({_cpu_model()})")
        for h in header:
            table.add_column(h, justify="left" if h in ("path", "notes") else "right")
        for row in figures:
            table.add_row(*row)
        console.print(table)
        ttable = Table(title="Targets (issue 11)")
        for h in ("target", "wanted", "measured", ""):
            ttable.add_column(h)
        for row in targets:
            style = "green" if row[3] == "met" else ("red" if row[3] == "NOT met" else "yellow")
            ttable.add_row(*row[:3], f"[{style}]{row[3]}[/]")
        console.print(ttable)
        for note in notes:
            console.print(f"[dim]{note}[/]")
        load_after = os.getloadavg()[0]
        load_note = (f"1-minute load average {load_before:.1f} before, {load_after:.1f} after "
                     f"(other processes on the machine count too)")
        notes.append(load_note)
        console.print(f"[dim]{escape(str(load_note))}; worker logs: {escape(str(runner.logs))}[/]")

        if record is not None:
            when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            argv = " ".join(sys.argv[1:]) if sys.argv[1:] else "bench consumer"
            section = "\n".join([
                "", f"## forewarn bench consumer — {when}", "",
                f"Machine: `nproc` = {os.cpu_count()}, CPU {_cpu_model()}; broker, Redis, workers and this "
                f"command share the cores. Kafka at {settings.kafka_bootstrap_servers}.",
                f"Command: `forewarn {argv}`. {events:,} events of about 280 bytes, {partitions} partitions; "
                f"rates are over each run's steady window (at most {window:.0f} s).", "",
                _markdown(header, figures), "", _markdown(["target", "wanted", "measured", "result"], targets), "",
                *[f"- {n}" for n in notes], "",
            ])
            with open(record, "a") as f:
                f.write(section)
            console.print(f"recorded in {record}")


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
