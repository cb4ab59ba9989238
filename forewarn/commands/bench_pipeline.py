"""``forewarn bench pipeline``: issue 5's benchmark — the detect worker against its ceiling and a naive agent.

One invocation, one broker, one data set (simulated usage events, produced once
per variant into fresh topics), three rates in events/s:

- (a) the raw consumer ceiling: confluent-kafka ``consume(10000)`` + ``orjson.loads``
  per value, nothing else (``streams.bench.ceiling``);
- (b) a naive per-event Faust agent: stock ``faust.App``, raw values, one awaited
  Redis ``HINCRBY`` per event (``streams.bench.naive_agent``, a subprocess), rated
  over its steady window like ``forewarn bench consumer``'s workers;
- (c) Forewarn's detect worker end to end: a ``forewarn worker`` subprocess, rated
  from the first to the last applied offset it records in Redis (start-up excluded).

Then, unless ``--no-latency``, the p99 event-to-firing latency at half of (c)'s
rate: events produced paced into fresh topics, each firing timed from the
produce time of the event that made it due to its arrival on the firings topic
(``streams.bench.latency``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from schemas.errors import ForewarnError

__all__ = ["register", "PipelineReport", "generate_events", "run_pipeline_bench", "table_rows"]

# Targets of issue 5, for one worker process.
TARGET_RATE = 50_000
TARGET_VS_NAIVE = 10.0
TARGET_VS_CEILING = 0.5
TARGET_P99_MS = 200.0
PARTITIONS = 4


@dataclass
class PipelineReport:
    """The figures of one run; ``None`` where a variant did not produce a rate.

    >>> r = PipelineReport(events=10, ceiling=100.0, naive=10.0, detect=50.0)
    >>> table_rows(r)[1][1][1:3]  # the (c) ÷ (b) target
    ['≥ 10×', '5.0×']
    """

    events: int
    ceiling: float | None = None
    naive: float | None = None
    detect: float | None = None
    detect_seconds: float | None = None
    latency_p99_ms: float | None = None
    latency_p50_ms: float | None = None
    latency_samples: int = 0
    latency_rate: float | None = None
    #: The latency was measured at a rate given on the command line, not at half of (c).
    latency_fixed: bool = False
    notes: list[str] = field(default_factory=list)


def generate_events(n: int, seed: int = 5) -> list[tuple[bytes, bytes]]:
    """The first ``n`` (account key, JSON value) records of a simulated population (about 170 per account)."""
    from forewarn.simulate import Simulation, SimulationConfig

    sim = Simulation(SimulationConfig(accounts=max(20, n // 170), days=60, seed=seed))
    out: list[tuple[bytes, bytes]] = []
    while not sim.done and len(out) < n:
        out.extend(sim.step().records)
    return out[:n]


def _fresh_topics(tag: str):
    from streams.settings import Topics

    return Topics.suffixed(tag, partitions=PARTITIONS)


def _produce(settings, topic: str, records, producer=None) -> dict[int, int]:
    from streams.batching.loadgen import end_offsets
    from streams.producer import RecordProducer

    producer = producer or RecordProducer(settings)
    producer.produce_many(topic, records, every=500)
    producer.flush(120)
    return end_offsets(settings, topic, PARTITIONS)


class _Run:
    """Topics, Redis keys and processes of one invocation, all removed by ``cleanup``."""

    def __init__(self, settings, console: Console):
        self.settings = settings
        self.console = console
        self.id = uuid.uuid4().hex[:8]
        self.logs = Path(tempfile.mkdtemp(prefix="forewarn-bench-pipeline-"))
        self.topics: list[str] = []
        self.redis_patterns: list[str] = []
        self.env = {"KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
                    "REDIS_URL": settings.redis_url.get_secret_value()}

    def redis(self):
        import redis

        return redis.Redis.from_url(self.settings.redis_url.get_secret_value(), **self.settings.redis_kwargs())

    # -- (a) -------------------------------------------------------------------------

    def ceiling(self, records) -> float | None:
        from streams.bench.ceiling import read_ceiling
        from streams.topics import ensure_topics

        topic = f"bench-pipeline-{self.id}.ceiling"
        self.topics.append(topic)
        ensure_topics(self.settings, [topic], partitions=PARTITIONS)
        ends = _produce(self.settings, topic, records)
        return read_ceiling(self.settings, topic, ends).rate

    # -- (b) -------------------------------------------------------------------------

    def naive(self, records, window: float) -> tuple[float | None, str]:
        from forewarn.commands.bench_consumer import WorkerProcess as Piped, steady_rate
        from streams.bench.naive_agent import naive_counts_key
        from streams.topics import ensure_topics

        topic = f"bench-pipeline-{self.id}.naive"
        namespace = f"bench-pipeline-{self.id}"
        self.topics.append(topic)
        self.redis_patterns.append(naive_counts_key(namespace))
        ensure_topics(self.settings, [topic], partitions=PARTITIONS)
        ends = _produce(self.settings, topic, records)
        go = self.logs / "go-naive"
        with open(self.logs / "naive.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streams.bench.naive_agent", "--topic", topic, "--group",
                 f"bench-pipeline-naive-{self.id}", "--namespace", namespace, "--start-when", str(go)],
                stdout=subprocess.PIPE, stderr=log, env={**os.environ, **self.env})
        worker = Piped(proc)
        worker.start_reader()
        note = ""
        try:
            ready_by = time.monotonic() + 120
            while time.monotonic() < ready_by and proc.poll() is None and not any(
                    ln.get("event") == "ready" for ln in worker.lines):
                time.sleep(0.05)
            go.touch()
            deadline = time.monotonic() + 120 + window
            while time.monotonic() < deadline:
                time.sleep(0.2)
                if proc.poll() is not None:
                    note = f"naive agent exited (code {proc.returncode}); log {self.logs / 'naive.log'}"
                    break
                _, window_s, total, _ = steady_rate([worker.lines], ends, window)
                if total is not None or window_s >= window:
                    break
            else:
                note = "timed out"
        finally:
            worker.stop()
        rate, window_s, _, why = steady_rate([worker.lines], ends, window)
        return rate, note or why or f"steady window {window_s:.1f} s"

    # -- (c) -------------------------------------------------------------------------

    def _worker(self, tag: str):
        from forewarn.devinfra.workers import WorkerProcess
        from streams.settings import Settings
        from streams.topics import ensure_topics

        topics = _fresh_topics(tag)
        app_id = f"forewarn-bench-{tag}"
        settings = Settings(kafka_bootstrap_servers=self.settings.kafka_bootstrap_servers,
                            kafka_security=self.settings.kafka_security, redis_url=self.settings.redis_url,
                            topics=topics, app_id=app_id)
        self.topics.extend(topics.all_names())
        for attempt in range(3):
            try:
                ensure_topics(settings)
                break
            except ForewarnError:  # fresh partitions' leaders can answer with a stale epoch for a moment
                if attempt == 2:
                    raise
                time.sleep(2)
        self.redis_patterns.append(f"fw:{{det:{topics.usage_events}:*")
        env = {**self.env, "FOREWARN_APP_ID": app_id, "FOREWARN_TOPICS": topics.model_dump_json(),
               "FOREWARN_IDLE_ADVANCE": "false"}
        return settings, WorkerProcess(["worker", "--loglevel", "warning"], env, self.logs / f"{tag}.log")

    def _applied(self, client, topic: str) -> list[int]:
        pipe = client.pipeline(transaction=False)
        for p in range(PARTITIONS):
            pipe.hget(f"fw:{{det:{topic}:{p}}}:rec", "applied_offset")
        return [int(v) if v is not None else -1 for v in pipe.execute()]

    def detect(self, records, timeout: float) -> tuple[float | None, float | None, str]:
        settings, worker = self._worker(f"bp{self.id}")
        topic = settings.topics.usage_events
        ends = _produce(settings, topic, records)
        total = sum(ends.values())
        client = self.redis()
        worker.start()
        first = last = None
        note = ""
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not worker.alive():
                    note = f"worker exited (code {worker.proc.returncode}); log {worker.log_path}"
                    break
                applied = self._applied(client, topic)
                now = time.perf_counter()
                done = sum(a + 1 for a in applied)
                if done > 0 and first is None:
                    first = (now, done, _cpu_seconds(worker))  # start-up is over: the worker applied a batch
                if first is not None and (last is None or done > last[1]):
                    last = (now, done, _cpu_seconds(worker))
                if all(applied[p] >= ends[p] - 1 for p in ends if ends[p] > 0):
                    break
                time.sleep(0.05)
            else:
                note = f"timed out after {timeout:.0f} s at {last[1] if last else 0:,} of {total:,} events"
        finally:
            worker.stop()
            client.close()
        if first is None or last is None or last[0] <= first[0]:
            return None, None, note or "no progress measured (too few events for more than one batch?)"
        seconds = last[0] - first[0]
        if first[2] is not None and last[2] is not None and last[2] > first[2]:
            per_cpu = (last[1] - first[1]) / (last[2] - first[2])
            note = "; ".join(filter(None, [note, f"{per_cpu:,.0f} events per worker CPU-second "
                                                 f"({last[2] - first[2]:.2f} CPU-s over {seconds:.2f} s)"]))
        return (last[1] - first[1]) / seconds, seconds, note

    # -- latency -----------------------------------------------------------------------

    def latency(self, records, rate: float, seconds: float, linger_ms: float = 1.0) -> tuple[list[float], str]:
        """Firing latencies (ms) at ``rate``, the paced producer in its own process; and a note with the backlog."""
        from confluent_kafka import Consumer, TopicPartition

        from schemas.timefmt import parse_rfc3339
        from streams.bench.latency import FiringsListener, due_index, read_producer_log, write_records

        settings, worker = self._worker(f"bpl{self.id}")
        topic = settings.topics.usage_events
        wanted = min(len(records), max(1000, int(rate * seconds)))
        warmup = min(max(PARTITIONS * 50, int(rate * 2)), wanted // 4)  # never the whole of a small run
        records_path = self.logs / "latency-records.tsv"
        write_records(records[:wanted], records_path)
        listener = FiringsListener(settings, settings.topics.trigger_firings, list(range(PARTITIONS))).start()
        offsets = Consumer(settings.confluent_config(**{"group.id": f"forewarn-bench-backlog-{self.id}",
                                                        "enable.auto.commit": False, "log_level": 3}))
        client = self.redis()

        def producer(start: int, stop: int, tag: str) -> subprocess.Popen:
            cmd = [sys.executable, "-m", "streams.bench.latency", "--topic", topic, "--records", str(records_path),
                   "--start", str(start), "--stop", str(stop), "--rate", str(rate),
                   "--log", str(self.logs / f"latency-{tag}.bin"), "--linger-ms", str(linger_ms)]
            return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(self.logs / f"latency-{tag}.log", "wb"),
                                    env={**os.environ, **self.env})

        def backlog() -> int:
            ends = [offsets.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                    for p in range(PARTITIONS)]
            return sum(ends) - sum(a + 1 for a in self._applied(client, topic))

        worker.start()
        note = ""
        samples: list[int] = []
        summary: dict = {}
        caught_up = None
        try:
            # warm-up slice: wait until the worker applies on every partition before timing anything
            warm = producer(0, warmup, "warmup")
            if warm.wait(120) != 0:
                return [], f"warm-up producer failed; log {self.logs / 'latency-warmup.log'}"
            deadline = time.monotonic() + 180
            while min(self._applied(client, topic)) < 0 or backlog() > 0:
                if not worker.alive() or time.monotonic() > deadline:
                    return [], f"worker not caught up with the warm-up on every partition; log {worker.log_path}"
                time.sleep(0.05)
            metrics_before = _scrape(worker)
            ready = time.time()
            timed = producer(warmup, wanted, "timed")
            while timed.poll() is None:
                samples.append(backlog())
                time.sleep(0.25)
            if timed.returncode != 0:
                return [], f"paced producer failed; log {self.logs / 'latency-timed.log'}"
            summary = orjson.loads(timed.stdout.read() or b"{}")
            produced_by = time.time()
            deadline = time.monotonic() + 120
            while backlog() > 0:
                if not worker.alive() or time.monotonic() > deadline:
                    note = "worker did not catch up with the paced load"
                    break
                time.sleep(0.02)
            else:
                caught_up = time.time() - produced_by
            metrics_after = _scrape(worker)
            time.sleep(1.0)  # the last firings' publication
        finally:
            worker.stop()
            listener.stop()
            offsets.close()
            client.close()
        from streams.config import effective_config

        lateness_us = effective_config(settings).engine.allowed_lateness_us
        logs = read_producer_log([self.logs / "latency-warmup.bin", self.logs / "latency-timed.bin"], records_path)
        partition_of = {acct: p for p, log in logs.items() for acct in log.by_account}
        seen: set[str] = set()
        latencies: list[float] = []
        unmatched = early = 0
        for arrived, firing in listener.arrivals:
            if "firing_id" not in firing or firing["firing_id"] in seen:
                continue  # the detector's watermark markers share the topic; republished firings count once
            seen.add(firing["firing_id"])
            p = partition_of.get(firing["account_id"])
            idx = None if p is None else due_index(logs[p], firing["account_id"],
                                                    parse_rfc3339(firing["fired_at"]), lateness_us)
            if idx is None:
                unmatched += 1
                continue
            sent = logs[p].sent_at[idx]
            if sent < ready:
                continue
            if arrived < sent:
                early += 1
            latencies.append((arrived - sent) * 1000)
        ordered = sorted(samples)
        extra = [f"{len(seen)} firings, {len(latencies)} due after warm-up; {wanted - warmup:,} events asked at "
                 f"{rate:,.0f}/s by a separate producer process (linger.ms {linger_ms:g}), produced at "
                 f"{summary.get('rate', 0):,.0f}/s",
                 f"worker backlog while producing (events produced, not yet applied; {len(samples)} samples, "
                 f"every 0.25 s): median {ordered[len(ordered) // 2] if ordered else 0:,}, "
                 f"max {ordered[-1] if ordered else 0:,}"
                 + (f"; caught up {caught_up:.2f} s after the producer finished" if caught_up is not None else "")]
        chunks = _chunk_note(metrics_before, metrics_after)
        if chunks:
            extra.append(chunks)
        if unmatched:
            extra.append(f"{unmatched} firings with no due event found")
        if early:
            extra.append(f"{early} firings arrived before their due event was produced: the due rule is off")
        return latencies, "; ".join([note, *extra] if note else extra)

    # -- cleanup ---------------------------------------------------------------------

    def cleanup(self) -> None:
        from streams.topics import delete_topics

        if self.topics:
            try:
                failed = delete_topics(self.settings, sorted(set(self.topics)))
                if failed:
                    self.console.print(f"[yellow]{len(failed)} topics not deleted, e.g. {escape(str(failed[0]))}[/]")
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the figures
                self.console.print(f"[yellow]could not delete topics: {escape(str(exc))}[/]")
        try:
            client = self.redis()
            for pattern in self.redis_patterns:
                batch = list(client.scan_iter(match=pattern, count=10_000))
                for i in range(0, len(batch), 1000):
                    client.unlink(*batch[i:i + 1000])
            client.close()
        except Exception as exc:  # noqa: BLE001
            self.console.print(f"[yellow]could not delete Redis keys: {escape(str(exc))}[/]")


def _cpu_seconds(worker) -> float | None:
    """User + system CPU time of the worker process so far (a figure the other users of the cores barely move)."""
    try:
        fields = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, AttributeError):
        return None


def _scrape(worker) -> dict[str, float]:
    try:
        return worker.metrics()
    except OSError:
        return {}


def _chunk_note(before: dict[str, float], after: dict[str, float]) -> str:
    """What the worker's chunks looked like between two scrapes: size, processing time, fetch wait."""
    def delta(name: str) -> float:
        return sum(v for k, v in after.items() if k.startswith(name + "{") or k == name) - \
            sum(v for k, v in before.items() if k.startswith(name + "{") or k == name)

    chunks = delta("forewarn_detect_chunk_events_count")
    fetches = delta("forewarn_batch_fetch_wait_seconds_count")
    if not before or not after or chunks <= 0:
        return ""
    note = (f"worker chunks in the timed window: {chunks:,.0f}, {delta('forewarn_detect_chunk_events_sum') / chunks:,.0f} "
            f"records each on average, {delta('forewarn_detect_chunk_seconds_sum') / chunks * 1000:,.1f} ms to "
            f"process each")
    if fetches > 0:
        note += f"; mean wait for a fetch {delta('forewarn_batch_fetch_wait_seconds_sum') / fetches * 1000:,.1f} ms"
    calls = []
    for op in ("load", "load_due", "apply"):
        label = '{op="' + op + '"}'
        n = delta("forewarn_redis_call_seconds_count" + label)
        if n > 0:
            calls.append(f"{op} {delta('forewarn_redis_call_seconds_sum' + label) / n * 1000:,.1f} ms")
    if calls:
        note += "; mean Redis call per chunk: " + ", ".join(calls)
    return note


def run_pipeline_bench(settings, events: int, *, seed: int = 5, window: float = 15.0, timeout: float = 600.0,
                       latency: bool = True, latency_seconds: float = 20.0, latency_linger_ms: float = 1.0,
                       latency_rate: float = 0.0, console: Console | None = None) -> PipelineReport:
    """Run (a), (b), (c) and optionally the latency probe on ``settings``' broker and Redis."""
    from streams.bench.latency import percentile

    console = console or Console(stderr=True)
    console.print(f"simulating {events:,} events…")
    records = generate_events(events, seed)
    report = PipelineReport(events=len(records))
    run = _Run(settings, console)
    try:
        console.print("(a) raw consumer ceiling…", end=" ")
        report.ceiling = run.ceiling(records)
        console.print(_fmt(report.ceiling))
        console.print("(b) naive per-event Faust agent + Redis…", end=" ")
        report.naive, note = run.naive(records, window)
        report.notes.append(f"(b) {note}")
        console.print(f"{_fmt(report.naive)} ({note})")
        console.print("(c) forewarn worker end to end…", end=" ")
        report.detect, report.detect_seconds, note = run.detect(records, timeout)
        if note:
            report.notes.append(f"(c) {note}")
        console.print(f"{_fmt(report.detect)} over {report.detect_seconds or 0:.1f} s {note}")
        if latency and report.detect:
            report.latency_rate = latency_rate or report.detect / 2
            report.latency_fixed = bool(latency_rate)
            console.print(f"latency at {report.latency_rate:,.0f} events/s…", end=" ")
            values, note = run.latency(records, report.latency_rate, latency_seconds, latency_linger_ms)
            report.latency_samples = len(values)
            report.latency_p99_ms = percentile(values, 99)
            report.latency_p50_ms = percentile(values, 50)
            report.notes.append(f"latency: {note}")
            console.print(note)
        elif latency:
            report.notes.append("latency: not measured ((c) has no rate)")
        else:
            report.notes.append("latency: not measured (--no-latency)")
    finally:
        run.cleanup()
    report.notes.append(f"worker logs: {run.logs}")
    return report


def _fmt(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:,.0f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def table_rows(r: PipelineReport) -> tuple[list[list[str]], list[list[str]]]:
    """(figures rows, targets rows) as plain strings, for rich and for markdown."""
    figures = [
        ["(a) raw consumer ceiling: confluent-kafka consume + orjson", _fmt(r.ceiling)],
        ["(b) naive Faust agent, one awaited Redis call per event", _fmt(r.naive)],
        ["(c) forewarn worker, end to end", _fmt(r.detect)],
        ["(c) ÷ (b)", f"{_ratio(r.detect, r.naive):.1f}×" if _ratio(r.detect, r.naive) else "n/a"],
        ["(c) ÷ (a)", f"{_ratio(r.detect, r.ceiling):.0%}" if _ratio(r.detect, r.ceiling) else "n/a"],
    ]
    vs_naive, vs_ceiling = _ratio(r.detect, r.naive), _ratio(r.detect, r.ceiling)
    checks = [
        ("(c) events/s, one worker", f"≥ {TARGET_RATE:,}", r.detect, r.detect is not None and r.detect >= TARGET_RATE,
         _fmt(r.detect)),
        ("(c) ÷ (b)", f"≥ {TARGET_VS_NAIVE:.0f}×", vs_naive, vs_naive is not None and vs_naive >= TARGET_VS_NAIVE,
         f"{vs_naive:.1f}×" if vs_naive else "n/a"),
        ("(c) ÷ (a)", f"≥ {TARGET_VS_CEILING:.0%}", vs_ceiling,
         vs_ceiling is not None and vs_ceiling >= TARGET_VS_CEILING, f"{vs_ceiling:.0%}" if vs_ceiling else "n/a"),
        (f"p99 event-to-firing latency at {_fmt(r.latency_rate)} events/s "
         f"({'given by --latency-rate, not the target' if r.latency_fixed else 'half of (c)'})",
         f"≤ {TARGET_P99_MS:.0f} ms",
         r.latency_p99_ms, r.latency_p99_ms is not None and r.latency_p99_ms <= TARGET_P99_MS,
         f"{r.latency_p99_ms:,.0f} ms (p50 {r.latency_p50_ms:,.0f} ms, {r.latency_samples} firings)"
         if r.latency_p99_ms is not None else "n/a"),
    ]
    targets = [[name, wanted, shown, ("met" if ok else "NOT met") if value is not None else "not measured"]
               for name, wanted, value, ok, shown in checks]
    if r.latency_fixed and r.latency_p99_ms is not None:
        targets[-1][3] = "not judged: not half of (c)"
    return figures, targets


def _cpu_model() -> str:
    from forewarn.commands.bench_consumer import _cpu_model as model

    return model()


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(out + ["| " + " | ".join(row) + " |" for row in rows])


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @bench.command("pipeline")
    def pipeline(
        events: int = typer.Option(300_000, min=1000, help="Simulated events, produced once per variant."),
        window: float = typer.Option(15.0, min=2.0, help="Longest steady window of the naive agent, in seconds."),
        latency: bool = typer.Option(True, help="Also measure p99 event-to-firing latency at half of (c)'s rate."),
        latency_seconds: float = typer.Option(20.0, min=2.0, help="Seconds of paced load for the latency figure."),
        latency_linger_ms: float = typer.Option(1.0, min=0.0, help="linger.ms of the latency probe's producer."),
        latency_rate: float = typer.Option(0.0, min=0.0, help="Measure the latency at this rate instead of half "
                                                              "of (c)'s (0: half of (c), the target's load)."),
        seed: int = typer.Option(5, help="Simulator seed."),
        record: Path = typer.Option(None, help="Append the results as a section to this markdown file."),
    ) -> None:
        """Events/s of the raw consumer ceiling, a naive per-event Faust agent and the detect worker, with ratios."""
        from forewarn.commands.common import load_settings

        console = Console(width=max(Console().width, 120))
        settings = load_settings()
        load_before = os.getloadavg()
        report = run_pipeline_bench(settings, events, seed=seed, window=window, latency=latency,
                                    latency_seconds=latency_seconds, latency_linger_ms=latency_linger_ms,
                                    latency_rate=latency_rate, console=console)
        load_after = os.getloadavg()
        figures, targets = table_rows(report)
        machine = f"{os.cpu_count()} cores ({_cpu_model()})"
        table = Table(title=f"Detection pipeline: {report.events:,} simulated events, {PARTITIONS} partitions, {machine}")
        table.add_column("variant")
        table.add_column("events/s", justify="right")
        for row in figures:
            table.add_row(*row)
        console.print(table)
        ttable = Table(title="Targets (issue 5, one worker process)")
        for h in ("target", "wanted", "measured", ""):
            ttable.add_column(h)
        for row in targets:
            style = {"met": "green", "NOT met": "red"}.get(row[3], "yellow")
            ttable.add_row(*row[:3], f"[{style}]{row[3]}[/]")
        console.print(ttable)
        load_note = (f"load average (1/5/15 min) {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f} "
                     f"before, {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} after; broker, Redis, "
                     f"workers and other users share the cores")
        notes = [*report.notes, load_note]
        for note in notes:
            console.print(f"[dim]{note}[/]")
        if record is not None:
            when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            argv = " ".join(sys.argv[1:]) if sys.argv[1:] else "bench pipeline"
            section = "\n".join([
                "", f"## forewarn bench pipeline — {when}", "",
                f"Machine: `nproc` = {os.cpu_count()}, CPU {_cpu_model()}. Command: `forewarn {argv}`. "
                f"{report.events:,} simulated events, {PARTITIONS} partitions, one broker; each variant reads "
                f"its own copy of the same events.", "",
                _markdown(["variant", "events/s"], figures), "",
                _markdown(["target", "wanted", "measured", "result"], targets), "",
                *[f"- {n}" for n in notes if not n.startswith("worker logs")], "",
            ])
            with open(record, "a") as f:
                f.write(section)
            console.print(f"recorded in {record}")
