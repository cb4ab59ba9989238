"""A worker process on the batch path that counts events per account: the batch path's proving ground.

The consumer-group tests and ``forewarn bench consumer`` start it as a real
process (``python -m streams.batching.count_worker``), several at a time, and
kill it. It prints one JSON object per line on stdout: ``assigned`` when a
rebalance gives it partitions and ``progress`` a few times a second (records
handled, highest offset per partition), which is how the test and the benchmark
follow it without reaching into its memory.

Modes: ``redis`` counts per account in Redis through ``AccountCountStore`` (one
script call per chunk); ``noop`` parses and counts the chunk in memory and
stores nothing (the cost of the path without Redis). ``--handler-delay`` adds a
sleep per chunk, standing in for a slow Redis.
``--fail-on-account`` makes the handler raise on that account, to show a
failing handler takes the worker down; ``--per-event-topic`` adds an ordinary
per-event Faust agent to the same app, counting into Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from typing import Any

import orjson

from streams.batching.agent import batch_agent
from streams.batching.app import batch_app
from streams.batching.base import TP
from streams.batching.counts import AccountCountStore, count_accounts
from streams.batching.runtime import batching_of
from streams.settings import Settings

__all__ = ["main", "build_app", "PoisonedAccount", "per_event_key", "wait_for_start_signal"]


class PoisonedAccount(RuntimeError):
    """Raised by the handler on the account named by ``--fail-on-account`` (a deliberate bug)."""


def per_event_key(namespace: str) -> str:
    return f"fw:{{{namespace}}}:per-event-count"


def _emit(obj: dict[str, Any]) -> None:
    # straight to the file descriptor: Faust redirects sys.stdout into its logs
    os.write(1, orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS) + b"\n")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def build_app(args: argparse.Namespace, settings: Settings):
    import redis.asyncio as aioredis

    app = batch_app(
        settings,
        app_id=args.group,
        web_enabled=False,
        datadir=tempfile.mkdtemp(prefix="fw-count-worker-"),
        broker_session_timeout=args.session_timeout,
        broker_heartbeat_interval=max(0.5, args.session_timeout / 6),
        broker_request_timeout=max(args.session_timeout + 5, 40.0),
        broker_rebalance_timeout=args.session_timeout * 3,
    )
    redis = aioredis.from_url(settings.redis_url.get_secret_value(), **settings.redis_kwargs())
    store = AccountCountStore(redis, args.namespace, ttl_s=args.ttl)
    progress: dict[str, Any] = {"records": 0, "offsets": {}, "first_t": None}
    poison = args.fail_on_account
    delay = args.handler_delay

    async def count_events(partition: TP, records: list) -> None:
        if poison is not None:
            for record in records:
                if orjson.loads(record.value).get("account_id") == poison:
                    raise PoisonedAccount(f"account {poison!r} at offset {record.offset} (deliberate failure)")
        if progress["first_t"] is None:
            progress["first_t"] = time.time()
        if delay:
            await asyncio.sleep(delay)
        if args.mode == "redis":
            await store.apply(partition, records)
        else:
            count_accounts(records)
        progress["records"] += len(records)
        progress["offsets"][partition.partition] = records[-1].offset

    batch_agent(app, args.topic, name="count_events")(count_events)

    if args.per_event_topic:
        key = per_event_key(args.namespace)

        @app.agent(app.topic(args.per_event_topic, value_serializer="raw", key_serializer="raw"))
        async def count_one_by_one(stream):
            async for _value in stream:
                await redis.incr(key)

    @app.on_partitions_assigned.connect
    async def on_assigned(app, assigned, **kwargs) -> None:  # noqa: ARG001 - Faust signal signature
        _emit({"event": "assigned", "t": time.time(), "pid": os.getpid(),
               "partitions": sorted(tp.partition for tp in assigned if tp.topic == args.topic)})

    budget = batching_of(app).budget

    @app.timer(args.progress_interval)
    async def report() -> None:
        _emit({"event": "progress", "t": time.time(), "pid": os.getpid(), "records": progress["records"],
               "offsets": progress["offsets"], "first_t": progress["first_t"],
               "inflight_peak": budget.peak, "rss_mb": _rss_mb()})

    return app


def wait_for_start_signal(path: str) -> None:
    _emit({"event": "ready", "t": time.time(), "pid": os.getpid()})
    while not os.path.exists(path):
        time.sleep(0.01)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m streams.batching.count_worker", description=__doc__.split("\n")[0])
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True, help="consumer group (Faust app id)")
    p.add_argument("--namespace", required=True, help="Redis key namespace of the counts")
    p.add_argument("--mode", choices=("redis", "noop"), default="redis")
    p.add_argument("--fail-on-account", default=None)
    p.add_argument("--per-event-topic", default=None)
    p.add_argument("--handler-delay", type=float, default=0.0, help="seconds slept per chunk (a slow Redis)")
    p.add_argument("--session-timeout", type=float, default=10.0)
    p.add_argument("--ttl", type=int, default=86400, help="seconds until the Redis keys expire")
    p.add_argument("--progress-interval", type=float, default=0.25)
    p.add_argument("--loglevel", default="warning")
    p.add_argument("--start-when", default=None, metavar="PATH",
                   help="print a 'ready' line, then wait for PATH to exist before joining the group "
                        "(lets a benchmark start several workers together)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import faust

    args = parse_args(argv)
    app = build_app(args, Settings())
    if args.start_when:
        wait_for_start_signal(args.start_when)
    worker = faust.Worker(app, loglevel=args.loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    sys.exit(main())
