"""Live = backtest = truth, and crashes change nothing (issue 5's replay-equivalence and crash-safety).

One simulated population (2,000 accounts, 120 days, with duplicate deliveries,
out-of-order events within the lateness and malformed messages) is produced to a
real Kafka and processed by real ``forewarn worker`` processes with state in a real
Redis. The firings they publish must equal ``forewarn backtest`` on the same file,
which must equal the simulator's independently computed truth. A run whose worker
is SIGKILLed at random points and restarted must publish the same firings (a
firing republished after a crash carries the same id) and leave byte-identical
Redis state. A run where a second worker joins the group and one leaves must too.
"""

from __future__ import annotations

import json
import random
import time

import orjson
import pytest
import redis

from forewarn.commands.backtest import run_backtest
from forewarn.devinfra.workers import WorkerProcess
from forewarn.simulate import SimulationConfig, simulate_to_dir
from streams.config import load_config
from streams.outbox import WATERMARK_HEADER
from streams.readback import read_topic
from streams.settings import Settings

from replay_harness import applied_total, end_offsets, produce_population, wait_done

pytestmark = pytest.mark.integration

Key = tuple[str, str, str, str]


def _model_triggers() -> set[str]:
    """The shipped config's usage_drop triggers: the simulator's truth covers the rule triggers only
    (the online models' own replay and crash tests are in test_dropoff_replay.py)."""
    return {t.name for t in load_config(Settings().config_path).triggers_of_kind("usage_drop")}


def _model_keys(rows) -> list[Key]:
    models = _model_triggers()
    return sorted((r["firing_id"], r["trigger"], r["account_id"], r["fired_at"]) for r in rows
                  if r["trigger"] in models)


def _keys(rows) -> list[Key]:
    models = _model_triggers()
    return sorted((r["firing_id"], r["trigger"], r["account_id"], r["fired_at"]) for r in rows
                  if r["trigger"] not in models)


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    simulate_to_dir(SimulationConfig(accounts=2000, days=120, seed=7), out)
    lines = [ln for ln in (out / "events.jsonl").read_bytes().splitlines() if ln.strip()]
    truth = _keys(json.loads(ln) for ln in (out / "truth" / "firings.jsonl").read_text().splitlines())
    settings = Settings()
    report = run_backtest(out / "events.jsonl", load_config(settings.config_path))
    backtest = _keys(f.to_json() for f in report.firings)
    models = _model_keys(f.to_json() for f in report.firings)
    return {"dir": out, "lines": lines, "truth": truth, "backtest": backtest, "models": models,
            "until": report.until_us}


def test_backtest_equals_the_simulator_truth(population):
    assert len(population["truth"]) > 100
    assert population["backtest"] == population["truth"]


def _env(worker_env) -> dict[str, str]:
    return {**worker_env, "FOREWARN_IDLE_ADVANCE": "false"}


def _snapshot(client: redis.Redis, settings: Settings) -> dict[str, object]:
    """Every detector key of this run, with the run's namespace stripped, by value.

    The applied offset is left out: malformed messages have no key, so the producer
    spreads them over partitions at random and offsets differ between two productions
    of the same file. ``wait_done`` already checked it reached each partition's end.
    So is the write sequence (``seq``): it counts writes, which depend on how the
    records were chunked (a crash and a redelivery make more), not what they did.
    """
    ns = f"det:{settings.topics.usage_events}"
    state: dict[str, object] = {}
    for key in client.scan_iter(match=f"fw:{{{ns}:*", count=10_000):
        name = key.decode().replace(ns, "NS")
        kind = client.type(key).decode()
        if kind == "string":
            state[name] = client.get(key)
        elif kind == "zset":
            state[name] = client.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            state[name] = {k: v for k, v in client.hgetall(key).items() if k not in (b"applied_offset", b"seq")}
        elif kind == "list":
            state[name] = client.lrange(key, 0, -1)
    return state


def _published(settings: Settings) -> list[dict]:
    """The firings on the firings topic (the detector's watermark markers left out)."""
    return [orjson.loads(r.value) for r in read_topic(settings, settings.topics.trigger_firings, timeout=60)
            if WATERMARK_HEADER not in r.headers]


@pytest.fixture(scope="module")
def undisturbed(population, kafka_bootstrap, redis_url, tmp_path_factory):
    """The reference live run: one worker, no faults."""
    import uuid

    from streams.settings import Topics

    run = uuid.uuid4().hex[:8]
    topics = Topics.suffixed(f"ref{run}")
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url, topics=topics,
                        app_id=f"forewarn-ref-{run}")
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "REDIS_URL": redis_url, "FOREWARN_APP_ID": settings.app_id,
           "FOREWARN_TOPICS": topics.model_dump_json(), "FOREWARN_IDLE_ADVANCE": "false"}
    produce_population(settings, population["lines"], population["until"])
    ends = end_offsets(settings)
    client = redis.Redis.from_url(redis_url)
    worker = WorkerProcess(["worker", "--loglevel", "warning"], env,
                           tmp_path_factory.mktemp("ref") / "worker.log").start()
    try:
        wait_done(client, settings, ends, [worker])
        metrics = worker.metrics()
    finally:
        worker.stop()
    return {"settings": settings, "firings": _published(settings), "state": _snapshot(client, settings),
            "metrics": metrics}


def test_live_worker_publishes_exactly_the_backtest_firings(population, undisturbed):
    published = undisturbed["firings"]
    ids = [f["firing_id"] for f in published]
    assert len(ids) == len(set(ids)), "an undisturbed run published a firing twice"
    assert _keys(published) == population["backtest"] == population["truth"]
    # the shipped usage_drop trigger (no checkpoint key here: models in memory) fires as in the backtest
    assert _model_keys(published) == population["models"] and population["models"]
    assert not any(k.endswith(":outbox") for k in undisturbed["state"]), "outbox left unpublished"
    m = undisturbed["metrics"]
    assert m["forewarn_events_valid_total"] > 0
    assert m['forewarn_events_invalid_total{reason="late"}'] == 0


def test_sigkilled_worker_restarted_gives_the_same_firings_and_state(population, undisturbed, settings,
                                                                      worker_env, tmp_path, redis_url):
    produce_population(settings, population["lines"], population["until"])
    ends = end_offsets(settings)
    total = sum(ends.values())
    client = redis.Redis.from_url(redis_url)
    rng = random.Random(5)
    kill_points = sorted(rng.uniform(0.1, 0.9) for _ in range(3))
    kills = 0
    worker = WorkerProcess(["worker", "--loglevel", "warning"], _env(worker_env), tmp_path / "w0.log").start()
    try:
        for i, point in enumerate(kill_points):
            deadline = time.monotonic() + 300
            while applied_total(client, settings, ends) < point * total:
                assert worker.alive() and time.monotonic() < deadline
                time.sleep(0.05)
            worker.kill()
            kills += 1
            worker = WorkerProcess(["worker", "--loglevel", "warning"], _env(worker_env),
                                   tmp_path / f"w{i + 1}.log").start()
        wait_done(client, settings, ends, [worker])
    finally:
        worker.stop()
    assert kills == 3
    published = _published(settings)
    assert set(_keys(published)) == set(population["truth"]), "a crash lost or invented a firing"
    by_id: dict[str, dict] = {}
    for f in published:  # a firing republished after a crash is the very same one
        assert by_id.setdefault(f["firing_id"], f) == f
    assert _snapshot(client, settings) == undisturbed["state"]


def test_a_worker_joining_and_one_leaving_changes_nothing(population, undisturbed, settings, worker_env,
                                                          tmp_path, redis_url):
    produce_population(settings, population["lines"], population["until"])
    ends = end_offsets(settings)
    total = sum(ends.values())
    client = redis.Redis.from_url(redis_url)
    first = WorkerProcess(["worker", "--loglevel", "warning"], _env(worker_env), tmp_path / "a.log").start()
    second = None
    try:
        deadline = time.monotonic() + 300
        while applied_total(client, settings, ends) < 0.2 * total:
            assert first.alive() and time.monotonic() < deadline
            time.sleep(0.05)
        second = WorkerProcess(["worker", "--loglevel", "warning"], _env(worker_env), tmp_path / "b.log").start()
        while applied_total(client, settings, ends) < 0.5 * total:
            assert first.alive() and second.alive() and time.monotonic() < deadline
            time.sleep(0.05)
        assert first.stop() == 0
        wait_done(client, settings, ends, [second])
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert set(_keys(_published(settings))) == set(population["truth"])
    assert _snapshot(client, settings) == undisturbed["state"]
