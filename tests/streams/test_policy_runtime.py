"""The policy worker's store and runtime against a real Redis (and Kafka for the outbox): the cases where two
chunks meet — two partitions decided at once by one worker, two owners of one partition in a rebalance."""

from __future__ import annotations

import uuid
from collections import namedtuple

import orjson
import pytest
import redis
from prometheus_client import CollectorRegistry

from interventions.policy import PolicyEngine
from schemas.firing import Firing
from schemas.timefmt import US_PER_HOUR, US_PER_MINUTE, parse_rfc3339
from streams.app import Runtimes
from streams.config import load_config
from streams.stores.policy_redis import RedisPolicyStore
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration

T0 = parse_rfc3339("2026-03-02T10:05:00Z")
Rec = namedtuple("Rec", "key value offset headers")


@pytest.fixture(scope="module")
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _firings(n: int, start_minute: int = 0) -> list[Firing]:
    """``n`` firings of distinct accounts, an hour apart (each its own decision window)."""
    return [Firing("payment_failing", f"acct-{i:03d}", T0 + (start_minute + 61 * i) * US_PER_MINUTE, {"count": 3})
            for i in range(n)]


def _records(firings: list[Firing], start: int = 0) -> list[Rec]:
    return [Rec(f.account_id.encode(), orjson.dumps(f.to_json()), start + i, ()) for i, f in enumerate(firings)]


def test_a_partition_read_by_another_thread_in_between_does_not_change_whose_accounts_are_read(client, settings):
    """One store serves the partitions a worker's two handler threads decide at once: reading partition 1
    between partition 0's record and its accounts must still give partition 0's accounts (a duplicate
    firing stays a duplicate, no second decision or command)."""
    config = load_config(settings.config_path)
    ns = f"pol:test-{uuid.uuid4().hex[:8]}"
    store = RedisPolicyStore(client, ns, ttl_ms=3_600_000)
    engine = PolicyEngine.from_config(config, store)
    firing = Firing("payment_failing", "acct-1", T0, {"count": 3})
    first = engine.process(0, [firing], [0], advance_to=T0 + 2 * US_PER_HOUR)
    store.commit(0, [])
    assert len(first.decisions) == 1

    read_partition = store.read_partition

    def another_thread_reads_partition_1_right_after(partition):
        record = read_partition(partition)
        if partition == 0:
            read_partition(1)
        return record

    store.read_partition = another_thread_reads_partition_1_right_after
    again = engine.process(0, [firing], [1], advance_to=T0 + 3 * US_PER_HOUR)
    store.commit(0, [])
    assert again.duplicates == 1
    assert again.decisions == [] and again.commands == []


def test_a_write_refused_because_another_owner_wrote_first_is_decided_again(settings):
    """Two owners of one policy partition overlapping in a rebalance: the other stores part of this chunk
    between this one's read and its write. The refused chunk is decided again on the state the other
    left — its firings skipped, the rest decided once — and ends where one owner deciding it all ends."""
    ensure_topics(settings)
    firings = _firings(12)
    records = _records(firings)
    first, second, rest = records[:4], records[4:8], records[8:]

    def runtime(namespace_settings) -> tuple[Runtimes, CollectorRegistry]:
        registry = CollectorRegistry()
        return Runtimes(namespace_settings, registry), registry

    from streams.settings import Topics

    ref_settings = settings.model_copy(update={"topics": Topics(**{
        **settings.topics.model_dump(), "trigger_firings": settings.topics.trigger_firings + ".ref"})})
    reference, _ = runtime(ref_settings)
    for chunk in (first, second, rest):
        reference.policy.handle_chunk(0, chunk)

    owner, _ = runtime(settings)
    other, registry = runtime(settings)
    owner.policy.handle_chunk(0, first)
    real = other.policy.engine.process
    interleaved = []

    def owner_writes_first(*args, **kwargs):
        result = real(*args, **kwargs)  # read and decided after offset 3 ...
        if not interleaved:
            interleaved.append(True)
            owner.policy.handle_chunk(0, second)  # ... then the old owner stores 4..7
        return result

    other.policy.engine.process = owner_writes_first
    result = other.policy.handle_chunk(0, second + rest)  # refused once, then decides 8..11 only
    assert interleaved
    assert registry.get_sample_value("forewarn_policy_stale_writes_total") == 1
    assert result.redelivered == len(second)
    store, ref_store = other.policy.store, reference.policy.store
    assert store.read_partition(0) == ref_store.read_partition(0)
    accounts = [f.account_id for f in firings]
    assert store.read_accounts(0, accounts) == ref_store.read_accounts(0, accounts)
    assert all(state.seen for state in store.read_accounts(0, accounts).values())


def test_a_record_that_is_neither_a_firing_nor_a_marker_is_dead_lettered_once_and_the_partition_goes_on(settings):
    """A poison record on trigger-firings stopped the policy partition for good (every restart crashed on it).
    Now it goes to trigger-firings.dlq with its reason, stored with the chunk's state, counted; the firings
    around it are decided; a redelivery of the chunk dead-letters nothing twice."""
    from streams.readback import read_topic

    ensure_topics(settings)
    registry = CollectorRegistry()
    rt = Runtimes(settings, registry)
    good = _records(_firings(3))
    bad = [Rec(b"acct-x", b"{not json", 3, ()),
           Rec(b"acct-y", orjson.dumps({"trigger": "payment_failing", "account_id": "acct-y"}), 4, ()),
           Rec(None, b'{"watermark": "soon"}', 5, (("forewarn-watermark", b"1"),))]
    later = [Rec(r.key, r.value, r.offset + 6, r.headers) for r in _records(_firings(1, start_minute=400))]
    chunk = good[:2] + bad + [good[2]] + later
    first = rt.policy.handle_chunk(0, chunk)
    again = rt.policy.handle_chunk(0, chunk)  # a redelivery after a crash before the commit of offsets
    assert again.redelivered == 4 and again.decisions == []
    dlq = read_topic(settings, settings.topics.trigger_firings_dlq)
    assert sorted(((r.headers["reason"].decode(), r.headers["source-offset"].decode(), r.value) for r in dlq),
                  key=lambda row: row[1]) == [
        ("invalid_json", "3", b"{not json"), ("invalid_firing", "4", bad[1].value),
        ("invalid_marker", "5", bad[2].value)]
    for reason in ("invalid_json", "invalid_firing", "invalid_marker"):
        assert registry.get_sample_value("forewarn_policy_invalid_records_total", {"reason": reason}) == 1
    decided = {d.account_id for d in first.decisions}
    assert {"acct-000", "acct-001", "acct-002"} <= decided


def test_an_unreadable_record_is_counted_even_when_its_publication_fails(settings):
    """The dead letter is stored with the chunk; if publishing fails (here: its topic is missing), the
    redelivered chunk finds the record applied. It must have been counted already, or the alert on the
    counter never sees it; the stored dead letter is published once the topic exists."""
    from streams.readback import read_topic

    names = [n for n in settings.topics.all_names() if n != settings.topics.trigger_firings_dlq]
    ensure_topics(settings, names)
    registry = CollectorRegistry()
    rt = Runtimes(settings, registry)
    chunk = [Rec(b"acct-x", b"{not json", 0, ())] + _records(_firings(1), start=1)
    with pytest.raises(Exception):
        rt.policy.handle_chunk(0, chunk)
    assert registry.get_sample_value("forewarn_policy_invalid_records_total", {"reason": "invalid_json"}) == 1
    ensure_topics(settings)
    rt = Runtimes(settings, CollectorRegistry())  # a restarted worker: the stored outbox goes out first
    again = rt.policy.handle_chunk(0, chunk)
    assert again.redelivered == 1
    assert [r.value for r in read_topic(settings, settings.topics.trigger_firings_dlq)] == [b"{not json"]
