"""Live usage_drop = backtest usage_drop, and SIGKILLs change nothing (issue 6, on real worker processes).

A simulated population with declining accounts (400 accounts, 100 days, with
duplicate deliveries, out-of-order events within the lateness and malformed
messages) is produced to a real Kafka, keyed by account like any producer does,
and processed by real ``forewarn worker`` processes with a config holding a
``usage_drop`` trigger, state in a real Redis and a checkpoint key. The
``usage_drop`` firings they publish — id, account, fired_at and evidence — must
equal ``forewarn backtest`` on the same file (which routes accounts to the same
four partitions). A run whose worker is SIGKILLed at random points and
restarted (models restored from their checkpoints) must publish the same
firings and leave the same per-account drop-off state in Redis; so must a run
where a second worker joins (taking models over from Redis) and the first leaves.
"""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path

import orjson
import pytest
import redis

from forewarn.commands.backtest import run_backtest
from forewarn.devinfra.workers import WorkerProcess
from forewarn.simulate import SimulationConfig, simulate_to_dir
from schemas.timefmt import format_rfc3339
from streams.config import load_config
from streams.keys import PartitionKeys
from streams.outbox import WATERMARK_HEADER
from streams.producer import RecordProducer, account_key
from streams.readback import read_topic
from streams.settings import Settings, Topics
from streams.ticks import publish_watermark_ticks
from streams.topics import ensure_topics

from replay_harness import applied_total, end_offsets, produce_population, wait_done

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).resolve().parents[1] / "detectors" / "online" / "testdata" / "forewarn_with_usage_drop.yaml"
TRIGGER = "usage_dropping"
KEY = "replay-test-checkpoint-key-0123456789"


def _key(f: dict) -> tuple:
    return (f["firing_id"], f["account_id"], f["fired_at"], orjson.dumps(f["evidence"], option=orjson.OPT_SORT_KEYS))


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    out = tmp_path_factory.mktemp("dropsim")
    simulate_to_dir(SimulationConfig(accounts=400, days=100, seed=11), out)
    lines = [ln for ln in (out / "events.jsonl").read_bytes().splitlines() if ln.strip()]
    report = run_backtest(out / "events.jsonl", load_config(CONFIG))
    drops = sorted(_key(f.to_json()) for f in report.firings if f.trigger == TRIGGER)
    truth = map(orjson.loads, (out / "truth" / "accounts.jsonl").read_bytes().splitlines())
    declining = {a["account_id"] for a in truth
                 if a["decline_started"] or a["quiet_from"] or a["churned_at"] or a["natural_churn_at"]}
    return {"lines": lines, "drops": drops, "until": report.until_us, "declining": declining}


def _keys(settings: Settings, p: int) -> PartitionKeys:
    return PartitionKeys(f"det:{settings.topics.usage_events}", p)


def _drop_state(client: redis.Redis, settings: Settings, ends) -> dict[int, dict[bytes, bytes]]:
    return {p: client.hgetall(_keys(settings, p).drop_accounts(TRIGGER)) for p in ends}


def _published(settings: Settings) -> list[dict]:
    return [f for f in (orjson.loads(r.value) for r in read_topic(settings, settings.topics.trigger_firings,
                                                                  timeout=60)
                        if WATERMARK_HEADER not in r.headers) if f["trigger"] == TRIGGER]


def _env(worker_env: dict[str, str]) -> dict[str, str]:
    return {**worker_env, "FOREWARN_IDLE_ADVANCE": "false", "FOREWARN_CONFIG_PATH": str(CONFIG),
            "FOREWARN_MODEL_CHECKPOINT_KEY": KEY}


@pytest.fixture(scope="module")
def undisturbed(population, kafka_bootstrap, redis_url, tmp_path_factory):
    run = uuid.uuid4().hex[:8]
    topics = Topics.suffixed(f"drop{run}")
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url, topics=topics,
                        app_id=f"forewarn-dropref-{run}")
    env = _env({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "REDIS_URL": redis_url,
                "FOREWARN_APP_ID": settings.app_id, "FOREWARN_TOPICS": topics.model_dump_json()})
    produce_population(settings, population["lines"], population["until"])
    ends = end_offsets(settings)
    client = redis.Redis.from_url(redis_url)
    worker = WorkerProcess(["worker", "--loglevel", "warning"], env,
                           tmp_path_factory.mktemp("dropref") / "worker.log").start()
    try:
        wait_done(client, settings, ends, [worker])
        metrics = worker.metrics()
    finally:
        worker.stop()
    return {"firings": _published(settings), "state": _drop_state(client, settings, ends), "metrics": metrics}


def test_live_worker_publishes_exactly_the_backtest_usage_drop_firings(population, undisturbed):
    expected = population["drops"]
    assert len(expected) > 50
    flagged = {k[1] for k in expected}
    assert len(flagged & population["declining"]) >= 0.5 * len(flagged), "mostly declining accounts are flagged"
    published = undisturbed["firings"]
    assert len({f["firing_id"] for f in published}) == len(published), "an undisturbed run published twice"
    assert sorted(_key(f) for f in published) == expected
    m = undisturbed["metrics"]
    assert m[f'forewarn_model_scores_total{{trigger="{TRIGGER}"}}'] > 400 * 60
    assert m[f'forewarn_firings_total{{trigger="{TRIGGER}"}}'] == len(expected)
    assert not any(k.startswith("forewarn_model_cold_starts_total") and v for k, v in m.items())
    assert all(undisturbed["state"].values()), "every partition stores its accounts' drop-off state"


def test_sigkilled_worker_restored_from_checkpoints_gives_the_same_firings_and_state(
        population, undisturbed, settings, worker_env, tmp_path, redis_url):
    produce_population(settings, population["lines"], population["until"])
    ends = end_offsets(settings)
    total = sum(ends.values())
    client = redis.Redis.from_url(redis_url)
    rng = random.Random(6)
    kill_points = sorted(rng.uniform(0.1, 0.9) for _ in range(2))  # each restart costs a group join
    killed_at: list[int] = []
    worker = WorkerProcess(["worker", "--loglevel", "warning"], _env(worker_env), tmp_path / "w0.log").start()
    try:
        for i, point in enumerate(kill_points):
            deadline = time.monotonic() + 300
            while applied_total(client, settings, ends) < point * total:
                assert worker.alive() and time.monotonic() < deadline
                time.sleep(0.05)
            worker.kill()
            killed_at.append(applied_total(client, settings, ends))
            worker = WorkerProcess(["worker", "--loglevel", "warning"], _env(worker_env),
                                   tmp_path / f"w{i + 1}.log").start()
        wait_done(client, settings, ends, [worker])
        metrics = worker.metrics()
    finally:
        worker.stop()
    assert killed_at[0] < total, "the first kill came after the end: nothing was restored"
    published = _published(settings)
    assert sorted(set(_key(f) for f in published)) == population["drops"], "a crash lost or invented a firing"
    by_id: dict[str, dict] = {}
    for f in published:  # a firing republished after a crash is the very same one
        assert by_id.setdefault(f["firing_id"], f) == f
    assert not any(k.startswith("forewarn_model_cold_starts_total") and v for k, v in metrics.items()), \
        "a restart restored its checkpoints instead of starting cold"
    assert _drop_state(client, settings, ends) == undisturbed["state"]
    assert format_rfc3339(population["until"]) >= max(f["fired_at"] for f in published)


def test_a_worker_joining_and_one_leaving_hands_the_models_over_through_redis(
        population, undisturbed, settings, worker_env, tmp_path, redis_url):
    lines = population["lines"]
    half = len(lines) // 2
    ensure_topics(settings)
    producer = RecordProducer(settings)
    producer.produce_many(settings.topics.usage_events, ((account_key(v), v) for v in lines[:half]))
    producer.flush()
    client = redis.Redis.from_url(redis_url)
    first = WorkerProcess(["worker", "--loglevel", "warning"], _env(worker_env), tmp_path / "a.log").start()
    second, took_over = None, False
    try:
        wait_done(client, settings, end_offsets(settings), [first])
        second = WorkerProcess(["worker", "--loglevel", "warning"], _env(worker_env), tmp_path / "b.log").start()
        # the rest trickles in until the second worker has taken partitions over and stepped their models
        rest, deadline = lines[half:], time.monotonic() + 120
        while rest:
            n = 200 if time.monotonic() < deadline else len(rest)
            producer.produce_many(settings.topics.usage_events, ((account_key(v), v) for v in rest[:n]))
            producer.flush()
            rest = rest[n:]
            try:
                if any(k.startswith("forewarn_model_threshold{") for k in second.metrics()):
                    deadline, took_over = 0.0, True
            except OSError:
                pass  # its metrics endpoint is not up yet: keep trickling
            time.sleep(0.2)
        publish_watermark_ticks(settings, population["until"])
        ends = end_offsets(settings)
        assert first.stop() == 0
        wait_done(client, settings, ends, [second])
        metrics = second.metrics()
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert took_over, "the second worker never stepped a model while the first was still there"
    assert metrics[f'forewarn_model_scores_total{{trigger="{TRIGGER}"}}'] > 0
    published = _published(settings)
    assert sorted(set(_key(f) for f in published)) == population["drops"]
    assert not any(k.startswith("forewarn_model_cold_starts_total") and v for k, v in metrics.items())
    assert _drop_state(client, settings, ends) == undisturbed["state"]
