"""Reading a topic back to its end, also when it ends in a transaction's commit marker."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Producer

from streams.readback import TopicFollower, read_topic
from streams.topics import ensure_topics

pytestmark = pytest.mark.integration


def _produce_in_transaction(settings, topic: str, values: list[bytes]) -> None:
    producer = Producer(settings.confluent_config(**{"transactional.id": f"readback-{uuid.uuid4().hex[:8]}",
                                                     "log_level": 3}))
    producer.init_transactions(30)
    producer.begin_transaction()
    for i, value in enumerate(values):
        producer.produce(topic, value, f"k{i}".encode())
    producer.commit_transaction(30)


def test_read_topic_ends_on_a_commit_marker_without_waiting_for_the_timeout(settings):
    topic = settings.topics.usage_events
    ensure_topics(settings, [topic])
    values = [f"v{i}".encode() for i in range(12)]
    _produce_in_transaction(settings, topic, values)

    start = time.monotonic()
    records = read_topic(settings, topic, timeout=20)
    elapsed = time.monotonic() - start

    assert sorted(r.value for r in records) == sorted(values)
    # every partition that got records ends in a marker; the old reader waited out the timeout
    assert elapsed < 15, f"read_topic took {elapsed:.1f}s: it waited for a record past the commit marker"


def test_follower_moves_past_commit_markers(settings):
    topic = settings.topics.usage_events
    ensure_topics(settings, [topic])
    follower = TopicFollower(settings, topic, timeout=15)
    try:
        _produce_in_transaction(settings, topic, [b"a", b"b", b"c"])
        first = follower.poll_to_end()
        _produce_in_transaction(settings, topic, [b"d"])
        second = follower.poll_to_end()
    finally:
        follower.close()
    assert sorted(r.value for r in first) == [b"a", b"b", b"c"]
    assert [r.value for r in second] == [b"d"]


def test_read_topic_raises_rather_than_return_part_of_a_topic(settings):
    """An open transaction holds read_committed readers below its records: a timeout, not a short list."""
    topic = settings.topics.usage_events
    ensure_topics(settings, [topic], partitions=1)
    producer = Producer(settings.confluent_config(**{"transactional.id": f"readback-{uuid.uuid4().hex[:8]}",
                                                     "log_level": 3}))
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"pending", b"k")
    producer.flush(30)
    try:
        with pytest.raises(TimeoutError, match="could not read partitions"):
            read_topic(settings, topic, timeout=3)
    finally:
        producer.abort_transaction(30)
