"""``forewarn bench dispatcher``: commands per second through one dispatcher to a local webhook receiver.

The receiver is a minimal asyncio HTTP/1.1 server in a process of its own
(so it does not share the dispatcher's interpreter), answering 200 to every
POST and counting requests and distinct idempotency keys. The dispatcher
runs in this process with its real Kafka consumer, Redis claims, signed
webhook channel (SSRF guard allowing only 127.0.0.1), receipts and commits.
The clock starts when the first batch is handed to the dispatcher (after the
consumer group join) and stops when the batch holding the last command has
committed, so the figure is end to end: consume, claim, send, record
delivered, write receipts, wait for their acks, commit.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass

import orjson

from schemas.timefmt import format_rfc3339
from streams.settings import Settings, Topics

__all__ = ["BenchResult", "run_bench", "serve_receiver"]

_HOOK = "bench_hook"


@dataclass(frozen=True)
class BenchResult:
    commands: int
    seconds: float
    received: int
    distinct: int
    batches: int
    concurrency: int
    batch_size: int
    cpu_seconds: float  # CPU time of this process (all its threads, librdkafka's included) over the timed span

    @property
    def per_second(self) -> float:
        return self.commands / self.seconds

    def describe(self) -> str:
        verdict = "met" if self.per_second >= 2000 else "NOT met"
        return (f"dispatcher: {self.commands:,} commands in {self.seconds:.2f} s = {self.per_second:,.0f} commands/s "
                f"(target >= 2,000/s: {verdict}); receiver got {self.received:,} requests, {self.distinct:,} distinct "
                f"idempotency keys; {self.batches} batches of up to {self.batch_size}, {self.concurrency} delivery "
                f"threads; dispatcher CPU {self.cpu_seconds:.2f} s = {1e6 * self.cpu_seconds / self.commands:.0f} µs "
                f"per command ({self.commands / self.cpu_seconds:,.0f} commands per CPU-second)")


# -- the receiver (runs in its own process) -----------------------------------------------------------------------


async def _serve(port: int) -> None:
    stats = {"requests": 0}
    keys: set[bytes] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, key = 0, b""
                for line in head.split(b"\r\n"):
                    lower = line[:16].lower()
                    if lower.startswith(b"content-length:"):
                        length = int(line[15:])
                    elif lower.startswith(b"idempotency-key:"):
                        key = line[16:].strip()
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET /stats"):
                    body = orjson.dumps({"requests": stats["requests"], "distinct": len(keys)})
                else:
                    stats["requests"] += 1
                    keys.add(key)
                    body = b"{}"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=256)
    async with server:
        await server.serve_forever()


def serve_receiver(port: int) -> None:
    asyncio.run(_serve(port))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as resp:
        return orjson.loads(resp.read())


# -- the run -------------------------------------------------------------------------------------------------------


def _commands(n: int, run: str):
    decided = format_rfc3339(int(time.time() * 1e6))
    expires = format_rfc3339(int((time.time() + 86_400) * 1e6))
    for i in range(n):
        account = f"acct-{i % 5000}"
        yield account.encode(), orjson.dumps({
            "schema_version": 1, "command_id": f"{run}-{i:08d}", "firing_id": f"f-{run}-{i}", "account_id": account,
            "trigger": "payment_failing", "intervention": "payment_outreach", "channel": _HOOK,
            "payload": {"content": {"subject": "Your payment did not go through",
                                    "resource": "https://billing.example.com/update"},
                        "evidence": {"failures": 3, "since": decided}},
            "decided_at": decided, "expires_at": expires,
        })


def run_bench(settings: Settings, n: int, concurrency: int | None = None, batch_size: int | None = None) -> BenchResult:
    from confluent_kafka.admin import AdminClient

    from interventions.channels.base import ChannelSpec
    from streams.dispatcher.worker import Dispatcher, build_channels
    from streams.producer import RecordProducer
    from streams.topics import ensure_topics

    run = uuid.uuid4().hex[:8]
    topics = Topics(**{f: f"bench-dispatch-{run}.{getattr(Topics(), f)}" for f in Topics.model_fields
                       if f not in ("partitions", "replication_factor")})
    d = settings.dispatcher
    dispatcher_conf = type(d).model_validate({**d.model_dump(),
        "group_id": f"bench-dispatch-{run}",
        "allow_private_networks": ["127.0.0.1/32"],
        "channel_secrets": {**d.channel_secrets, _HOOK: "bench-signing-secret"},
        "delivered_ttl_s": 3600,  # bench claims need not outlive the run
        **({"concurrency": concurrency} if concurrency else {}),
        **({"batch_size": batch_size} if batch_size else {}),
    })
    settings = settings.model_copy(update={"topics": topics, "app_id": f"forewarn-bench-{run}",
                                           "dispatcher": dispatcher_conf})
    names = [topics.intervention_commands, topics.intervention_receipts, topics.intervention_commands_dlq]
    ensure_topics(settings, names)

    port = _free_port()
    receiver = subprocess.Popen([sys.executable, "-c", f"from streams.dispatcher.bench import serve_receiver; "
                                 f"serve_receiver({port})"], env=dict(os.environ), start_new_session=True)
    dispatcher = None
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _stats(port)
                break
            except OSError:
                if time.monotonic() > deadline or receiver.poll() is not None:
                    raise RuntimeError("the bench receiver did not start") from None
                time.sleep(0.1)

        producer = RecordProducer(settings)
        producer.produce_many(topics.intervention_commands, _commands(n, run))
        producer.flush()

        spec = ChannelSpec(_HOOK, "webhook", {"url": f"http://127.0.0.1:{port}/hook", "headers": {}}, timeout_s=10)
        dispatcher = Dispatcher(settings, build_channels({_HOOK: spec}, settings), {_HOOK: spec})
        marks: dict[str, float] = {}
        done = threading.Event()
        handled = [0]
        inner = dispatcher.process_batch

        def timed(msgs):
            if "start" not in marks:
                marks["start"], marks["cpu_start"] = time.perf_counter(), time.process_time()
            inner(msgs)
            handled[0] += len(msgs)
            if handled[0] >= n:
                marks["end"], marks["cpu_end"] = time.perf_counter(), time.process_time()
                done.set()

        dispatcher.process_batch = timed
        stop = threading.Event()
        worker = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
        worker.start()
        finished = done.wait(timeout=max(120.0, n / 200))
        stop.set()
        worker.join(timeout=60)
        if not finished:
            raise RuntimeError(f"only {handled[0]} of {n} commands were handled before the time limit")
        stats = _stats(port)
        return BenchResult(n, marks["end"] - marks["start"], stats["requests"], stats["distinct"], dispatcher.batches,
                           dispatcher_conf.concurrency, dispatcher_conf.batch_size, marks["cpu_end"] - marks["cpu_start"])
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        AdminClient(settings.confluent_config(log_level=3)).delete_topics(names, operation_timeout=10)
