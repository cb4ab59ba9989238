"""The live usage_drop models inside the detect runtime, on the real Kafka and Redis (no worker process).

One partition's events go through ``DetectRuntime.handle_chunk`` exactly as the
batch consumer hands them over. The usage_drop firings it publishes, and the
per-account state it stores, must equal a direct replay of the same events
through one ``DropOffDetector`` — also when chunks are redelivered and when the
process dies between the drop-off step and the rule step. Tampered checkpoints
are refused, counted and never unpickled; a silent account is flagged by the
idle advance alone, with no event arriving.
"""

from __future__ import annotations

import logging
import math
import pickle
import sys
from collections import namedtuple
from pathlib import Path

import orjson
import pytest
import redis
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from detectors.online.detector import AccountDrop
from detectors.online.runner import UsageDropRunner
from detectors.online.tally import TICK_TYPE
from schemas.event import Event, event_to_json
from schemas.timefmt import US_PER_DAY, format_rfc3339
from streams.app import Runtimes
from streams.config import load_config
from streams.keys import PartitionKeys
from streams.outbox import WATERMARK_HEADER
from streams.readback import read_topic
from streams.settings import Settings
from streams.ticks import TICK_TYPE as STREAMS_TICK_TYPE
from streams.topics import ensure_topics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detectors" / "online"))
from online_streams import LATENESS, T0_DAY, chunks, noisy_arrival, population  # noqa: E402
from test_online_profile import direct_features  # noqa: E402

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).resolve().parents[1] / "detectors" / "online" / "testdata" / "forewarn_with_usage_drop.yaml"
TRIGGER = "usage_dropping"
KEY = "test-checkpoint-key-0123456789abcdef"
Rec = namedtuple("Rec", "key value offset")


def _settings(settings: Settings, **extra) -> Settings:
    return settings.model_copy(update={"config_path": CONFIG, "model_checkpoint_key": SecretStr(KEY),
                                       "idle_advance": False, **extra})


def _runtime(settings: Settings) -> tuple[Runtimes, CollectorRegistry]:
    registry = CollectorRegistry()
    return Runtimes(settings, registry), registry


def _records(events: list[Event], start: int = 0) -> list[Rec]:
    return [Rec(e.account_id.encode(), event_to_json(e), start + i) for i, e in enumerate(events)]


def _tick(until_us: int, offset: int) -> Rec:
    value = orjson.dumps({"event_id": f"tick-{offset}", "account_id": "forewarn-tick-0", "type": TICK_TYPE,
                          "occurred_at": format_rfc3339(until_us + LATENESS + 1)})
    return Rec(b"forewarn-tick-0", value, offset)


def _drops(settings: Settings) -> list[tuple]:
    out = []
    for r in read_topic(settings, settings.topics.trigger_firings, timeout=60):
        if WATERMARK_HEADER in r.headers:
            continue
        f = orjson.loads(r.value)
        if f["trigger"] == TRIGGER:
            out.append((f["firing_id"], f["account_id"], f["fired_at"], orjson.dumps(f["evidence"])))
    return sorted(out)


def _direct(events: list[Event], until_us: int):
    runner = UsageDropRunner.from_config(load_config(CONFIG), partitions=1)
    fired = runner.process(events) + runner.advance_to(until_us)
    keys = sorted((f.firing_id, f.account_id, format_rfc3339(f.fired_at), orjson.dumps(f.evidence))
                  for f in fired if f.fired_at <= until_us)
    return keys, runner.detectors[(TRIGGER, 0)]


def _stored_accounts(client, settings: Settings) -> dict[str, bytes]:
    key = PartitionKeys(f"det:{settings.topics.usage_events}", 0).drop_accounts(TRIGGER)
    return {k.decode(): v for k, v in client.hgetall(key).items()}


def _sample(registry: CollectorRegistry, name: str, **labels) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


SILENT = {"acct-004": 50, "acct-017": 56}


@pytest.fixture(scope="module")
def stream():
    events = noisy_arrival(population(3, accounts=50, days=80, silent=SILENT), 3)
    until = (T0_DAY + 80) * US_PER_DAY - 1
    return events, until


def test_the_tick_type_is_the_streams_tick_type():
    assert TICK_TYPE == STREAMS_TICK_TYPE


def test_redelivered_chunks_and_a_crash_between_the_two_steps_change_nothing(stream, settings, redis_url):
    events, until = stream
    s = _settings(settings)
    ensure_topics(s)
    client = redis.Redis.from_url(redis_url)
    records = _records(events)
    parts = list(chunks(records, [700, 1, 2500, 64]))
    runtimes, registry = _runtime(s)
    crashed_at = {len(parts) // 3, 2 * len(parts) // 3}
    for i, chunk in enumerate(parts):
        if i in crashed_at:
            # the drop-off step is stored, then the process dies before the rule step
            valid = [e for e in events[chunk[0].offset:chunk[-1].offset + 1]]
            runtimes.detect.dropoff.process(0, valid, [r.offset for r in chunk], chunk[-1].offset)
            runtimes, registry = _runtime(s)  # a new process: nothing cached
            if i:
                runtimes.detect.handle_chunk(0, parts[i - 1])  # and the previous chunk comes again too
        runtimes.detect.handle_chunk(0, chunk)
        if i == len(parts) // 2:
            runtimes.detect.handle_chunk(0, chunk)  # an in-process redelivery
    runtimes.detect.handle_chunk(0, [_tick(until, len(records))])

    expected, det = _direct(events, until)
    assert len(expected) >= 2
    assert {k[1] for k in expected} >= set(SILENT), "the accounts that fell silent are flagged"
    published = _drops(s)
    assert published == expected
    assert len({p[0] for p in published}) == len(published), "a firing was published twice"

    stored = _stored_accounts(client, s)
    assert stored == {aid: orjson.dumps(acct.encode()) for aid, acct in det.accounts.items()}
    assert "forewarn-tick-0" not in stored, "a watermark tick is nobody's usage"
    assert _sample(registry, "forewarn_model_cold_starts_total", reason="integrity") == 0

    # features per account, as stored in Redis, are exact against a direct computation over the raw events
    horizons = runtimes.detect.dropoff.detectors(0)[TRIGGER].horizons
    for aid in ("acct-000", "acct-004", "acct-031"):
        profile = AccountDrop.decode(orjson.loads(stored[aid])).profile
        got = profile.features(horizons)
        want = direct_features(events, aid, profile.first_day, profile.last_day, horizons)
        for name, value in want.items():
            assert math.isclose(got[name], value, rel_tol=1e-9, abs_tol=1e-12), (aid, name, got[name], value)


class _Exploit:
    """Unpickling this would create a file: a checkpoint must never get that far unless it is ours."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_tampered_checkpoints_are_refused_counted_and_never_unpickled(stream, settings, redis_url, tmp_path,
                                                                      caplog):
    events, until = stream
    s = _settings(settings)
    ensure_topics(s)
    client = redis.Redis.from_url(redis_url)
    half = _records(events[:len(events) // 2])
    runtimes, _ = _runtime(s)
    runtimes.detect.handle_chunk(0, half)
    store = runtimes.detect.dropoff.store
    good = store.checkpoint(0, TRIGGER)
    assert good is not None and len(_stored_accounts(client, s)) > 10

    marker = tmp_path / "pwned"
    evil_payload = pickle.dumps(_Exploit(marker))
    header_end = good.index(b"}") + 1  # keep the genuine header, swap the payload, keep the old signature
    forgeries = {
        "flipped byte": good[:-40] + bytes([good[-40] ^ 1]) + good[-39:],
        "foreign payload": good[:header_end] + evil_payload + good[-32:],
    }
    offset = len(events)
    for what, blob in forgeries.items():
        store.put_checkpoint(0, TRIGGER, blob)
        runtimes, registry = _runtime(s)  # a restart: the model is loaded from Redis
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="forewarn.dropoff"):
            runtimes.detect.handle_chunk(0, [_tick(until, offset)])
        offset += 1
        assert not marker.exists(), f"{what}: the checkpoint's bytes were executed"
        assert _sample(registry, "forewarn_model_cold_starts_total", reason="integrity") == 1, what
        assert any("failed its integrity check" in r.getMessage() and "refusing to load it" in r.getMessage()
                   for r in caplog.records), f"{what}: no clear log line"
        det = runtimes.detect.dropoff.detectors(0)[TRIGGER]
        assert det.accounts == {} and det.threshold.seen == 0, "the model restarts cold"
        assert _stored_accounts(client, s) == {}, "the stale accounts were replaced with the cold model's"
        store.put_checkpoint(0, TRIGGER, good)
        client.hset(PartitionKeys(f"det:{s.topics.usage_events}", 0).drop_record, "applied_offset", len(half) - 1)

    # signed with another key: refused as well; the next start from a good checkpoint is not a cold one
    other = s.model_copy(update={"model_checkpoint_key": SecretStr("another-key-that-is-long-enough")})
    runtimes, registry = _runtime(other)
    runtimes.detect.handle_chunk(0, [_tick(until, offset)])
    assert _sample(registry, "forewarn_model_cold_starts_total", reason="integrity") == 1
    runtimes, registry = _runtime(other)
    runtimes.detect.handle_chunk(0, [_tick(until, offset + 1)])
    assert _sample(registry, "forewarn_model_cold_starts_total", reason="integrity") == 0
    assert not marker.exists()


def test_a_silent_account_is_flagged_by_the_idle_advance_with_no_event_arriving(settings, redis_url):
    silent = {"acct-009": 60}
    events = noisy_arrival(population(8, accounts=50, days=62, silent=silent), 8)
    last_ts = max(e.ts for e in events)
    s = _settings(settings, idle_advance=True, idle_advance_after_s=1.0)
    ensure_topics(s)
    runtimes, registry = _runtime(s)
    detect = runtimes.detect
    detect.handle_chunk(0, _records(events))
    assert not [d for d in _drops(s) if d[1] == "acct-009"], "flagged before the silence was long enough"
    scored_before = _sample(registry, "forewarn_model_scores_total", trigger=TRIGGER)
    wall, _ = detect.progress[0]
    # no event arrives; wall-clock time passes and the idle advance moves the watermark along
    for days in range(1, 15):
        detect.advance_idle(0, now=wall + days * 86_400)
    flagged = [d for d in _drops(s) if d[1] == "acct-009"]
    assert flagged, "the silent account was not flagged by the idle advance"
    fired_at = flagged[0][2]
    assert fired_at > format_rfc3339(last_ts), "it must be flagged for days after the last event"
    scored = _sample(registry, "forewarn_model_scores_total", trigger=TRIGGER) - scored_before
    accounts = len(detect.dropoff.detectors(0)[TRIGGER].accounts)
    assert scored >= 10 * accounts * 0.9, "every known account is scored every day, silent or not"


def test_without_a_checkpoint_key_the_models_run_in_memory_and_nothing_is_stored(stream, settings, redis_url,
                                                                               caplog):
    events, until = stream
    s = _settings(settings).model_copy(update={"model_checkpoint_key": None})
    ensure_topics(s)
    with caplog.at_level(logging.WARNING, logger="forewarn.dropoff"):
        runtimes, registry = _runtime(s)
        runtimes.detect.handle_chunk(0, _records(events))
        runtimes.detect.handle_chunk(0, [_tick(until, len(events))])
    expected, _ = _direct(events, until)
    assert expected and _drops(s) == expected, "without checkpoints the firings are published all the same"
    assert any("FOREWARN_MODEL_CHECKPOINT_KEY" in r.getMessage() for r in caplog.records)
    assert _sample(registry, "forewarn_model_cold_starts_total", reason="no_key") == 1
    client = redis.Redis.from_url(redis_url)
    keys = PartitionKeys(f"det:{s.topics.usage_events}", 0)
    assert not client.exists(keys.drop_record) and not client.exists(keys.drop_accounts(TRIGGER))
    assert client.hget(keys.record, "applied_offset") is not None, "the rule path stored its state as usual"
    assert len(runtimes.detect.dropoff.detectors(0)[TRIGGER].accounts) == 50


def test_two_usage_drop_triggers_share_one_atomic_step_and_each_equals_its_direct_replay(stream, settings,
                                                                                         redis_url):
    config = Path(__file__).parent / "testdata" / "forewarn_two_usage_drops.yaml"
    names = ("usage_dropping", "usage_collapsing")
    events, until = stream
    s = _settings(settings).model_copy(update={"config_path": config})
    ensure_topics(s)
    records = _records(events)
    parts = list(chunks(records, [3000, 17, 900]))
    runtimes, _ = _runtime(s)
    for i, chunk in enumerate(parts):
        if i == len(parts) // 2:
            runtimes, _ = _runtime(s)  # a restart: both models restored from their checkpoints
            runtimes.detect.handle_chunk(0, parts[i - 1])
        runtimes.detect.handle_chunk(0, chunk)
    runtimes.detect.handle_chunk(0, [_tick(until, len(records))])

    runner = UsageDropRunner.from_config(load_config(config), partitions=1)
    fired = [f for f in runner.process(events) + runner.advance_to(until) if f.fired_at <= until]
    published = [orjson.loads(r.value) for r in read_topic(s, s.topics.trigger_firings, timeout=60)
                 if WATERMARK_HEADER not in r.headers]
    client = redis.Redis.from_url(redis_url)
    keys = PartitionKeys(f"det:{s.topics.usage_events}", 0)
    for name in names:
        want = sorted((f.firing_id, f.account_id, format_rfc3339(f.fired_at)) for f in fired if f.trigger == name)
        got = sorted((f["firing_id"], f["account_id"], f["fired_at"]) for f in published if f["trigger"] == name)
        assert want and got == want, name
        det = runner.detectors[(name, 0)]
        stored = {k.decode(): v for k, v in client.hgetall(keys.drop_accounts(name)).items()}
        assert stored == {aid: orjson.dumps(a.encode()) for aid, a in det.accounts.items()}, name
        assert client.hget(keys.drop_record, f"m:{name}") is not None


def test_a_write_refused_because_another_owner_wrote_first_is_worked_out_again(stream, settings, redis_url):
    """Two owners overlapping in a rebalance: the other applies part of this chunk between this one's
    load and its write. The refused chunk is worked out again on the state the other left: the part
    it applied is skipped, the rest applied once — the same state as one owner applying it all."""
    from streams.settings import Topics

    events, _until = stream
    s = _settings(settings)
    ref = s.model_copy(update={"topics": Topics(**{**s.topics.model_dump(),
                                                   "usage_events": s.topics.usage_events + ".ref"})})
    ensure_topics(s)
    records = _records(events[:900])
    first, second, rest = records[:300], records[300:600], records[600:]
    reference, _ = _runtime(ref)
    for chunk in (first, second, rest):
        reference.detect.handle_chunk(0, chunk)

    owner, _ = _runtime(s)
    other, registry = _runtime(s)
    owner.detect.handle_chunk(0, first)
    real = other.detect.engine.process_chunk
    interleaved = []

    def owner_writes_first(*args, **kwargs):
        result = real(*args, **kwargs)     # loaded and computed at offset 299 ...
        if not interleaved:
            interleaved.append(True)
            owner.detect.handle_chunk(0, second)   # ... then the old owner stores 300..599
        return result

    other.detect.engine.process_chunk = owner_writes_first
    other.detect.handle_chunk(0, second + rest)   # refused once, then applies 600..899 only
    assert interleaved
    assert _sample(registry, "forewarn_detect_stale_writes_total") == 1
    assert other.detect.store.record(0).applied_offset == rest[-1].offset
    accounts = {e.account_id for e in events[:900]}
    assert {a: other.detect.store.encoded(0, a) for a in accounts} == \
        {a: reference.detect.store.encoded(0, a) for a in accounts}
    assert other.detect.store.wakes(0) == reference.detect.store.wakes(0)


def test_a_checkpoint_behind_the_rules_is_refused_not_restored_over_the_gap(stream, settings):
    """A keyed worker checkpoints the models, then the partition runs a while on a worker without the key
    (rolling deploy): the rules move on, the models store nothing. A model restored from before that gap
    would see every account silent through it and fire for many; it must restart cold (``behind``)."""
    events, _until = stream
    s = _settings(settings)
    ensure_topics(s)
    records = _records(events)
    third = len(records) // 3
    keyed, _ = _runtime(s)
    keyed.detect.handle_chunk(0, records[:third])
    unkeyed, _ = _runtime(s.model_copy(update={"model_checkpoint_key": None}))
    unkeyed.detect.handle_chunk(0, records[third:2 * third])
    again, registry = _runtime(s)
    again.detect.handle_chunk(0, records[2 * third:])
    assert _sample(registry, "forewarn_model_cold_starts_total", reason="behind") == 1
    assert again.detect.dropoff.detectors(0)[TRIGGER].applied_offset == records[-1].offset
    flagged = {f[1] for f in _drops(s)}
    expected, _det = _direct(events, _until)  # one model that saw every event
    assert len(flagged) <= len({k[1] for k in expected}), f"{len(flagged)} accounts flagged across the gap"


def test_an_idle_advance_by_a_second_owner_is_refused_not_written_over_the_first(stream, settings):
    """An idle advance leaves the applied offset as it was, so the offset alone cannot tell two owners'
    advances apart: the write sequence must. The second owner's advance is refused (and its worker goes
    on); before, both were stored: every firing twice in the outbox, and the watermark could go back."""
    from streams.stores.detector_redis import StaleOwner

    events, _until = stream
    s = _settings(settings, idle_advance=True)
    ensure_topics(s)
    records = _records(events[: len(events) // 2])
    first, _ = _runtime(s)
    first.detect.handle_chunk(0, records)
    second, registry = _runtime(s)
    second.detect.dropoff.detectors(0)  # both owners hold the partition's models now
    watermark = first.detect.dropoff.detectors(0)[TRIGGER].watermark
    first.detect.dropoff.advance(0, watermark + 3 * US_PER_DAY)
    with pytest.raises(StaleOwner, match="write sequence"):
        second.detect.dropoff.advance(0, watermark + 2 * US_PER_DAY)
    # through the worker's idle-advance path: refused, counted, and no exception for the timer
    second.detect.dropoff.detectors(0)  # reloaded after the refusal: up to date again ...
    first.detect.dropoff.advance(0, watermark + 4 * US_PER_DAY)  # ... until the first owner writes once more
    second.detect.advance_idle(0, now=1_000.0)  # registers the partition's progress
    assert second.detect.advance_idle(0, now=1_000.0 + 10 * 86_400) is None
    assert _sample(registry, "forewarn_detect_stale_writes_total") == 1
