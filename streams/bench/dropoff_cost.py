"""What the live ``usage_drop`` models cost: CPU per event in the detect runtime, Redis bytes per account.

The same events go through the detect runtime twice, chunk by chunk and
partition by partition as the batch consumer hands them over (real Redis,
real Kafka for the outbox): once with the config's ``usage_drop`` triggers,
once with the rule triggers alone. The difference in process CPU time per
event is the live scoring's cost (drop-off detectors, their per-chunk
checkpoint and account writes). Then ``MEMORY USAGE`` of each partition's
drop-off keys, divided by the accounts they hold, gives Redis bytes per account.

Run it on the dev stack (``eval "$(forewarn dev env)"``)::

    python -m streams.bench.dropoff_cost sim/events.jsonl --config deploy/config/forewarn.yaml

It creates its own topics and key namespace and deletes both at the end.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import namedtuple
from pathlib import Path

import orjson
import redis
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from detectors.online.runner import partition_of
from streams.app import Runtimes
from streams.config import load_config
from streams.keys import PartitionKeys
from streams.settings import Settings, Topics
from streams.stores.detector_redis import detect_namespace
from streams.topics import admin_client, ensure_topics

__all__ = ["main"]

_Rec = namedtuple("_Rec", "key value offset")


def _partitioned(path: Path, partitions: int) -> list[list[_Rec]]:
    out: list[list[_Rec]] = [[] for _ in range(partitions)]
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            key = str(orjson.loads(line).get("account_id", "")).encode()
        except (orjson.JSONDecodeError, AttributeError):
            key = b""
        part = out[partition_of(key.decode(), partitions)]
        part.append(_Rec(key, line, len(part)))
    return out


def _run(settings: Settings, parts: list[list[_Rec]], chunk: int, with_models: bool) -> dict[str, float]:
    registry = CollectorRegistry()
    detect = Runtimes(settings, registry).detect
    if not with_models:
        detect.dropoff = None
    # chunks interleaved over partitions, as a worker owning all of them sees them
    order = [(p, recs[i:i + chunk]) for i in range(0, max(map(len, parts)), chunk)
             for p, recs in enumerate(parts) if recs[i:i + chunk]]
    cpu, wall = time.process_time(), time.perf_counter()
    for p, recs in order:
        detect.handle_chunk(p, recs)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    ckpt = registry.get_sample_value("forewarn_model_checkpoint_seconds_sum") or 0.0
    scored = sum(s.value for m in registry.collect() if m.name == "forewarn_model_scores"
                 for s in m.samples if s.name.endswith("_total"))
    return {"cpu_s": cpu, "wall_s": wall, "checkpoint_s": ckpt, "account_days": scored}


def _memory(client: redis.Redis, namespace: str, partitions: int, triggers: list[str]) -> dict[str, float]:
    accounts = hash_bytes = rec_bytes = 0
    for p in range(partitions):
        keys = PartitionKeys(namespace, p)
        rec_bytes += client.memory_usage(keys.drop_record, samples=0) or 0
        for t in triggers:
            accounts += client.hlen(keys.drop_accounts(t))
            hash_bytes += client.memory_usage(keys.drop_accounts(t), samples=0) or 0
    return {"accounts": accounts, "account_hash_bytes": hash_bytes, "record_bytes": rec_bytes,
            "bytes_per_account": (hash_bytes + rec_bytes) / accounts if accounts else float("nan")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("events", type=Path)
    ap.add_argument("--config", type=Path, default=Path("deploy/config/forewarn.yaml"))
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=20_000)
    args = ap.parse_args(argv)
    run = uuid.uuid4().hex[:8]
    base = Settings()
    topics = Topics.suffixed(f"dropbench{run}", partitions=args.partitions)
    parts = _partitioned(args.events, args.partitions)
    events = sum(map(len, parts))
    client = redis.Redis.from_url(base.redis_url.get_secret_value())
    results = {}
    namespaces: list[str] = []
    sources: list[str] = []
    try:
        for label, with_models in (("rules only", False), ("rules + usage_drop", True)):
            source = f"{topics.usage_events}.{'models' if with_models else 'rules'}"
            sources.append(source)
            settings = base.model_copy(update={
                "topics": topics.model_copy(update={"usage_events": source}),
                "config_path": args.config, "idle_advance": False,
                "model_checkpoint_key": SecretStr(f"bench-key-{run}-0123456789")})
            ensure_topics(settings)
            namespaces.append(detect_namespace(settings.topics.usage_events))
            results[label] = _run(settings, parts, args.chunk, with_models)
        triggers = [t.name for t in load_config(args.config).triggers_of_kind("usage_drop")]
        memory = _memory(client, namespaces[-1], args.partitions, triggers)
    finally:
        for ns in namespaces:
            for key in client.scan_iter(match=f"fw:{{{ns}:*", count=10_000):
                client.delete(key)
        names = [getattr(topics, f) for f in Topics.model_fields if f not in ("partitions", "replication_factor")]
        admin = admin_client(base)  # kept alive until the deletions resolve (a dropped client cancels them)
        futures = admin.delete_topics(sorted(set(names + sources)), operation_timeout=30)
        for f in futures.values():
            try:
                f.result(60)
            except Exception:  # noqa: BLE001 - a topic never created (e.g. the dlq) has nothing to delete
                pass
    base_r, with_r = results["rules only"], results["rules + usage_drop"]
    print(f"events: {events:,} in {args.partitions} partitions, chunks of {args.chunk:,}")
    for label, r in results.items():
        print(f"{label:>20}: CPU {r['cpu_s']:.2f} s ({1e6 * r['cpu_s'] / events:.2f} µs/event), "
              f"wall {r['wall_s']:.2f} s, checkpoint writes {r['checkpoint_s']:.2f} s")
    extra = with_r["cpu_s"] - base_r["cpu_s"]
    print(f"account-days scored: {with_r['account_days']:,.0f} "
          f"({events / with_r['account_days']:.1f} events per account-day)" if with_r["account_days"] else "")
    print(f"usage_drop live scoring: +{1e6 * extra / events:.2f} µs CPU per event "
          f"(x{with_r['cpu_s'] / base_r['cpu_s']:.2f} the rules-only run)")
    print(f"Redis: {memory['accounts']:,} accounts, {memory['account_hash_bytes']:,} B account hashes + "
          f"{memory['record_bytes']:,} B records = {memory['bytes_per_account']:.0f} B per account")


if __name__ == "__main__":
    main()
