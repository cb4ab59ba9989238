"""The naive baseline of ``forewarn bench pipeline``: a stock Faust agent, one awaited Redis call per event.

Run as ``python -m streams.bench.naive_agent``. It is what a first Faust version
of the detector would look like: raw values, parse each with orjson, one
``HINCRBY`` per event on the event's account, awaited before the next event.
It prints the same JSON lines as ``forewarn bench consumer``'s workers
(``ready``, ``assigned``, ``progress`` with the highest offset per partition), so
``forewarn.commands.bench_consumer.steady_rate`` measures it.

>>> naive_counts_key("bench-1234")
'fw:{bench-1234}:naive-counts'
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

import orjson

__all__ = ["main", "naive_counts_key"]


def naive_counts_key(namespace: str) -> str:
    """The one Redis hash the naive agent counts into (account → events)."""
    return f"fw:{{{namespace}}}:naive-counts"


def _emit(obj: dict[str, Any]) -> None:
    # straight to the file descriptor: Faust redirects sys.stdout into its logs
    os.write(1, orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS) + b"\n")


def main(argv: list[str] | None = None) -> None:
    import faust
    import redis.asyncio as aioredis

    from streams.batching.count_worker import wait_for_start_signal
    from streams.settings import Settings

    p = argparse.ArgumentParser(prog="python -m streams.bench.naive_agent")
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--namespace", required=True)
    p.add_argument("--start-when", required=True, metavar="PATH")
    p.add_argument("--progress-interval", type=float, default=0.05)
    args = p.parse_args(argv)

    settings = Settings()
    app = faust.App(
        args.group, broker=f"kafka://{settings.kafka_bootstrap_servers}", value_serializer="raw",
        key_serializer="raw", web_enabled=False, datadir=tempfile.mkdtemp(prefix="fw-bench-naive-"),
        consumer_max_fetch_size=settings.consumer_max_fetch_size, broker_max_poll_records=settings.max_poll_records,
        consumer_auto_offset_reset="earliest", topic_allow_declare=False, store="memory://",
        table_standby_replicas=0, broker_credentials=settings.faust_broker_credentials(),
    )
    redis = aioredis.from_url(settings.redis_url.get_secret_value(), **settings.redis_kwargs())
    key = naive_counts_key(args.namespace)
    progress: dict[str, Any] = {"records": 0, "offsets": {}, "first_t": None}

    @app.agent(app.topic(args.topic, value_serializer="raw", key_serializer="raw"))
    async def count_each(stream):
        offsets = progress["offsets"]
        loads = orjson.loads
        async for value in stream:
            try:
                obj = loads(value)
            except orjson.JSONDecodeError:
                obj = None  # malformed noise still costs its round-trip, as it would in a naive agent
            account = obj.get("account_id") if isinstance(obj, dict) else None
            account = account if isinstance(account, str) else "-"
            await redis.hincrby(key, account, 1)
            if progress["first_t"] is None:
                progress["first_t"] = time.time()
            progress["records"] += 1
            message = stream.current_event.message
            offsets[message.partition] = message.offset

    @app.on_partitions_assigned.connect
    async def on_assigned(app, assigned, **kwargs) -> None:  # noqa: ARG001 - Faust signal signature
        _emit({"event": "assigned", "t": time.time(), "pid": os.getpid(),
               "partitions": sorted(tp.partition for tp in assigned if tp.topic == args.topic)})

    @app.timer(args.progress_interval)
    async def report() -> None:
        _emit({"event": "progress", "t": time.time(), "pid": os.getpid(), **progress})

    wait_for_start_signal(args.start_when)
    faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
