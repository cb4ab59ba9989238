"""The Redis detector store passes the same contract as the in-memory reference store."""

from __future__ import annotations

import pathlib
import sys
import uuid

import orjson
import pytest
import redis

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "detectors"))
from store_contract import StoreContract  # noqa: E402

from detectors.store import Changes, PartitionRecord  # noqa: E402
from schemas.firing import Firing  # noqa: E402
from streams.stores.detector_redis import RedisDetectorStore, StaleOwner  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


class TestRedisDetectorStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _client(self, client):
        self.client = client

    def make_store(self, codec):
        return RedisDetectorStore(self.client, codec, namespace=f"test-{uuid.uuid4().hex[:8]}")


def test_a_second_owner_cannot_interleave_its_writes(client):
    from event_factory import default_engine

    codec = default_engine().codec
    ns = f"test-{uuid.uuid4().hex[:8]}"
    first, second = RedisDetectorStore(client, codec, ns), RedisDetectorStore(client, codec, ns)
    first.load(0, ())
    second.load(0, ())
    second.apply(0, Changes(PartitionRecord(10, 20, 5)))
    with pytest.raises(StaleOwner, match="another worker owns it"):
        first.apply(0, Changes(PartitionRecord(10, 20, 7)))
    assert first.record(0) == PartitionRecord(10, 20, 5)


def test_firings_wait_in_the_outbox_until_confirmed(client):
    from event_factory import default_engine

    store = RedisDetectorStore(client, default_engine().codec, f"test-{uuid.uuid4().hex[:8]}")
    store.load(1, ())
    f1, f2 = Firing("t", "a", 1_000_000, {"x": 1}), Firing("t", "b", 2_000_000, {})
    store.apply(1, Changes(PartitionRecord(0, 0, 3), firings=[f1, f2]))
    published = [orjson.loads(r.value)["firing_id"] for r in store.outbox(1)]
    assert published == [f1.firing_id, f2.firing_id]
    assert [r.key for r in store.outbox(1)] == [b"a", b"b"]
    assert store.confirm_published(1, store.outbox_entries(1)[:1]) == 1
    assert [orjson.loads(r.value)["firing_id"] for r in store.outbox(1)] == [f2.firing_id]


def test_a_stale_confirmation_never_drops_entries_it_did_not_publish(client):
    """Two workers overlapping on a partition (one's handler outlived its revocation): each drops only
    the entries it read and published, so what the other appended since stays until published."""
    from event_factory import default_engine

    store = RedisDetectorStore(client, default_engine().codec, f"test-{uuid.uuid4().hex[:8]}")
    store.load(1, ())
    store.apply(1, Changes(PartitionRecord(0, 0, 3), firings=[Firing("t", "a", 1_000_000, {})]))
    old_owner_read = store.outbox_entries(1)
    new_owner_read = store.outbox_entries(1)
    assert store.confirm_published(1, new_owner_read) == 1          # the new owner published it first
    store.load(1, ())
    later = Firing("t", "b", 2_000_000, {})
    store.apply(1, Changes(PartitionRecord(0, 0, 7), firings=[later]))
    assert store.confirm_published(1, old_owner_read) == 0          # the old owner's late confirmation
    assert [orjson.loads(r.value)["firing_id"] for r in store.outbox(1)] == [later.firing_id]


def test_a_write_that_leaves_the_offset_as_it_was_still_refuses_a_stale_owner(client):
    """An idle advance moves the watermark and folds accounts without a new offset: the offset alone
    cannot tell that another owner wrote, the write sequence does (else the watermark went back)."""
    from event_factory import default_engine

    codec = default_engine().codec
    ns = f"test-{uuid.uuid4().hex[:8]}"
    zombie, owner = RedisDetectorStore(client, codec, ns), RedisDetectorStore(client, codec, ns)
    owner.load(0, ())
    owner.apply(0, Changes(PartitionRecord(10, 20, 5)))
    zombie.load(0, ())  # both have read offset 5
    owner.load(0, ())
    owner.apply(0, Changes(PartitionRecord(500, 20, 5)))  # the owner's idle advance: same offset
    with pytest.raises(StaleOwner, match="write sequence"):
        zombie.apply(0, Changes(PartitionRecord(100, 20, 5)))
    assert owner.record(0) == PartitionRecord(500, 20, 5)


class _CountingStore(RedisDetectorStore):
    """Counts how often the outbox is read back from Redis."""

    reads = 0

    def outbox_entries(self, partition):
        self.reads += 1
        return super().outbox_entries(partition)


def _published(settings, topic: str, n: int) -> list[bytes]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(settings.confluent_config(**{"group.id": f"t-{uuid.uuid4().hex[:8]}",
                                                     "enable.auto.commit": False}))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    got: list[bytes] = []
    try:
        for _ in range(100):
            got += [m.value() for m in consumer.consume(n, timeout=0.2) if m.error() is None]
            if len(got) >= n:
                break
    finally:
        consumer.close()
    return got


def test_an_outbox_holding_only_what_the_write_appended_is_published_without_reading_it_back(client, settings):
    """The apply script reports the outbox's length: when it is the write's own entries, the publisher
    sends them as they are; when an earlier entry is still there (a crash before its publication), it
    reads the list back and publishes both, oldest first."""
    from confluent_kafka import Producer

    from event_factory import default_engine
    from streams.outbox import OutboxPublisher
    from streams.topics import ensure_topics

    ensure_topics(settings)
    topic = settings.topics.trigger_firings
    store = _CountingStore(client, default_engine().codec, f"test-{uuid.uuid4().hex[:8]}")
    publisher = OutboxPublisher(Producer(settings.confluent_config()), {"firings": topic})
    f1, f2, f3 = (Firing("t", a, 1_000_000, {}) for a in ("a", "b", "c"))

    store.load(0, ())
    appended = store.apply(0, Changes(PartitionRecord(0, 0, 3), firings=[f1]))
    assert appended.alone and appended.length == 1
    assert publisher.publish(store, 0, appended) == 1
    assert store.reads == 0 and store.outbox_entries(0) == []
    store.reads = 0

    store.load(0, ())
    store.apply(0, Changes(PartitionRecord(0, 0, 5), firings=[f2]))       # crashed before publishing
    store.load(0, ())
    appended = store.apply(0, Changes(PartitionRecord(0, 0, 7), firings=[f3]))
    assert not appended.alone and appended.length == 2
    assert publisher.publish(store, 0, appended) == 2
    assert store.reads == 1 and store.outbox_entries(0) == []
    ids = [orjson.loads(v)["firing_id"] for v in _published(settings, topic, 3)]
    assert sorted(ids) == sorted([f1.firing_id, f2.firing_id, f3.firing_id])  # each once (keys spread them)
