"""Throughput of the live outcome worker (``forewarn outcomes``): events/s and events per worker CPU-second.

Simulated usage events and decisions (seeded, so every run sees the same data) are produced to fresh
topics on the configured broker (``KAFKA_BOOTSTRAP_SERVERS``, ``REDIS_URL``: the dev stack's
``eval "$(forewarn dev env)"``), then one :class:`~streams.outcome_worker.OutcomeWorker` consumes them
all, as a replay (everything is in Kafka before it starts: the decisions are read first, the events
after them), in this process. Run::

    python -m streams.bench.outcomes --events 200000

The data: ``--accounts`` accounts, each event's account drawn uniformly, event times spread evenly
over ``--days`` in time order; 45 % ``session.started``, 40 % ``feature.used`` (half of them a core
feature), 3 % ``payment.succeeded``, 12 % ``payment.failed`` (which no success metric looks at) — so,
with the shipped config, most events meet a success metric (sessions count for the usage triggers) and
touch their account's state. ``--decisions-per-1k`` decisions per 1,000 events, on random accounts and
triggers, 45 % treated, 45 % control, 10 % suppressed, decided at a random time of the span.

Printed: the worker's wall time from its first stored chunk to its last (events/s), the process CPU
time from start to the last chunk stored (the worker thread, librdkafka's threads, the group join;
events per CPU-second), the Python CPU time spent in ``process_batch`` alone, and Redis's own CPU time
over the run (``INFO cpu``; the server may be shared with other clients: indicative only). The topics
and keys are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import threading
import time
import uuid

import orjson
import redis
from prometheus_client import CollectorRegistry

from schemas.event import Event, event_to_json
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, format_rfc3339, parse_rfc3339
from streams.batching.loadgen import end_offsets
from streams.config import effective_config
from streams.outcome_worker import OutcomeWorker
from streams.producer import RecordProducer
from streams.settings import Settings, Topics
from streams.topics import delete_topics, ensure_topics

__all__ = ["main", "simulate"]

T0 = parse_rfc3339("2026-03-02T00:00:00Z")
FEATURES = ("reports", "dashboards", "integrations", "settings", "export", "billing")
#: (event type, share): with the shipped config only payment.failed meets no success metric.
MIX = (("session.started", 0.45), ("feature.used", 0.40), ("payment.succeeded", 0.03), ("payment.failed", 0.12))
ARMS = (("treated", 0.45), ("control", 0.45), ("suppressed", 0.10))


def simulate(events: int, accounts: int, days: float, decisions_per_1k: float, triggers: list[str],
             seed: int = 7) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """(account, value) of the usage events in time order and of the decisions in publish order.

    >>> evs, decs = simulate(1000, 50, 1, 10, ["payment_failing"])
    >>> len(evs), len(decs), orjson.loads(decs[0][1])["trigger"]
    (1000, 10, 'payment_failing')
    """
    rng = random.Random(seed)
    span = int(days * US_PER_DAY)
    types = rng.choices([t for t, _ in MIX], [w for _, w in MIX], k=events)
    out_ev = []
    for i, type_ in enumerate(types):
        account = f"acct-{rng.randrange(accounts)}"
        props = {"feature": rng.choice(FEATURES)} if type_ == "feature.used" else {}
        ts = T0 + span * i // max(events, 1)
        out_ev.append((account, event_to_json(Event(f"e{i}", account, type_, ts, None, props))))
    out_dec = []
    arms = rng.choices([a for a, _ in ARMS], [w for _, w in ARMS], k=int(events * decisions_per_1k / 1000))
    for i, arm in enumerate(arms):
        decided = T0 + rng.randrange(max(span - US_PER_HOUR, 1))
        account = f"acct-{rng.randrange(accounts)}"
        body = {"firing_id": f"f{i}", "account_id": account, "trigger": rng.choice(triggers),
                "intervention": None if arm == "suppressed" else "bench", "arm": arm,
                "decided_at": format_rfc3339(decided), "experiment": "bench"}
        if arm == "suppressed":
            body["reason"] = "cooldown"
        out_dec.append((decided, account, orjson.dumps(body)))
    out_dec.sort(key=lambda d: d[0])
    return out_ev, [(a, v) for _, a, v in out_dec]


def _produce(settings: Settings, topic: str, records: list[tuple[str, bytes]]) -> dict[int, int]:
    """Produce keyed by account (the default partitioner, as every Forewarn producer, uncompressed);
    partition -> last offset."""
    producer = RecordProducer(settings, **{"compression.type": "none"})
    producer.produce_many(topic, ((account.encode(), value) for account, value in records))
    producer.flush(120)
    return {p: end - 1 for p, end in end_offsets(settings, topic, settings.topics.partitions).items() if end}


class _Timed(OutcomeWorker):
    """The worker, noting when its first and last poll batch were stored and the CPU time spent in them."""

    first: float | None = None
    last: float | None = None
    batch_cpu = 0.0
    batches = 0

    def process_batch(self, msgs):
        wall, cpu = time.perf_counter(), time.thread_time()
        done = super().process_batch(msgs)
        self.batch_cpu += time.thread_time() - cpu
        self.batches += 1
        self.first = wall if self.first is None else self.first
        self.last = time.perf_counter()
        return done


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--days", type=float, default=14.0)
    ap.add_argument("--decisions-per-1k", type=float, default=5.0)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    run = uuid.uuid4().hex[:8]
    topics = Topics.suffixed(f"outbench{run}", partitions=args.partitions)
    settings = Settings().model_copy(update={"topics": topics, "app_id": f"forewarn-outbench-{run}",
                                             "idle_advance": False})
    config = effective_config(settings)
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    evs, decs = simulate(args.events, args.accounts, args.days, args.decisions_per_1k, list(config.triggers),
                         args.seed)
    worker = None
    try:
        ensure_topics(settings)
        ends = {"ev": _produce(settings, topics.usage_events, evs),
                "dec": _produce(settings, topics.intervention_decisions, decs)}
        worker = _Timed(settings, config, CollectorRegistry(), client=client)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), name="outcome-worker", daemon=True)
        cpu0, redis0, wall0 = time.process_time(), _redis_cpu(client), time.perf_counter()
        thread.start()
        while True:
            recs = worker.store.read_records(range(args.partitions))
            if all(p in recs and getattr(recs[p], kind) >= off for kind, last in ends.items()
                   for p, off in last.items()):
                break
            if not thread.is_alive() or time.perf_counter() - wall0 > 3600:
                raise RuntimeError("the worker stopped or took over an hour")
            time.sleep(0.05)
        cpu, redis_cpu, total = time.process_time() - cpu0, _redis_cpu(client) - redis0, time.perf_counter() - wall0
        stop.set()
        thread.join(60)
        counts = worker.global_counts()
        left = sum(1 for _ in client.scan_iter(match=f"fw:{{{worker.store.namespace}:*", count=10_000))
    finally:
        if worker is not None:
            for key in client.scan_iter(match=f"fw:{{{worker.store.namespace}:*", count=10_000):
                client.delete(key)
        delete_topics(settings, topics.all_names())  # every topic ensure_topics made; a failure: nothing to delete

    steady = worker.last - worker.first
    n_ev, n_dec = len(evs), len(decs)
    closed = sum(c for c, _ in counts.values())
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"data: {n_ev:,} events of {args.accounts:,} accounts over {args.days:g} days, {n_dec:,} decisions, "
          f"{args.partitions} partitions, max_poll_records {settings.max_poll_records:,}")
    print(f"worker: {worker.batches} poll batches, {closed:,} windows counted, {left:,} keys left in Redis")
    print(f"wall: {steady:.2f} s first to last batch ({total:.2f} s with the group join) -> "
          f"{n_ev / steady:,.0f} events/s")
    print(f"CPU: process {cpu:.2f} s -> {n_ev / cpu:,.0f} events per CPU-second; in process_batch "
          f"{worker.batch_cpu:.2f} s ({1e6 * worker.batch_cpu / n_ev:.1f} µs/event)")
    print(f"Redis CPU over the run: {redis_cpu:.2f} s (shared server: indicative)")


if __name__ == "__main__":
    main()
