"""Reading a topic back to its end, also when it ends in a transaction's commit marker."""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager

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


@contextmanager
def _open_transaction(settings, topic: str):
    """One record in a transaction left open (a crashed transactional producer) on a 1-partition topic."""
    ensure_topics(settings, [topic], partitions=1)
    producer = Producer(settings.confluent_config(**{"transactional.id": f"readback-{uuid.uuid4().hex[:8]}",
                                                     "log_level": 3}))
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"pending", b"k")
    producer.flush(30)
    try:
        yield
    finally:
        producer.abort_transaction(30)


def test_read_topic_raises_rather_than_return_part_of_a_topic(settings):
    """An open transaction holds read_committed readers below its records: a timeout, not a short list."""
    topic = settings.topics.usage_events
    with _open_transaction(settings, topic), pytest.raises(TimeoutError, match="could not read partitions"):
        read_topic(settings, topic, timeout=3)


def test_a_partition_emptied_by_retention_is_skipped(settings):
    """Retention deleting every record of a quiet partition leaves low == high > 0: nothing to read there."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    topic = settings.topics.intervention_receipts
    ensure_topics(settings, [topic], partitions=2)
    producer = Producer(settings.confluent_config(**{"log_level": 3}))
    for i in range(5):
        producer.produce(topic, b"gone%d" % i, partition=0)
        producer.produce(topic, b"kept%d" % i, partition=1)
    producer.flush(30)
    emptied = TopicPartition(topic, 0, 5)
    admin = AdminClient(settings.confluent_config())  # held: its futures resolve only while it lives
    admin.delete_records([emptied])[emptied].result(30)

    start = time.monotonic()
    records = read_topic(settings, topic, timeout=10)
    assert sorted(r.value for r in records) == [b"kept%d" % i for i in range(5)]
    assert time.monotonic() - start < 8, "it waited for the emptied partition"


def test_an_open_transaction_is_one_line_naming_the_partition(settings):
    from schemas.errors import ForewarnError
    from streams.readback import TopicReadTimeout

    topic = settings.topics.usage_events
    with _open_transaction(settings, topic), pytest.raises(TopicReadTimeout) as late:
        read_topic(settings, topic, timeout=3)
    assert isinstance(late.value, ForewarnError) and "\n" not in str(late.value)
    assert f"{topic}: could not read partitions [0]" in str(late.value)
    assert "partition 0 stopped at offset 0 of 1, behind an open transaction holding offsets 0 to 0" in str(late.value)


def test_a_broker_error_is_one_line(settings):
    from streams.readback import TopicReadError

    dead = settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    with pytest.raises(TopicReadError, match=r"cannot read it back from Kafka \(127\.0\.0\.1:1\)") as failed:
        read_topic(dead, settings.topics.usage_events, timeout=2)
    assert "\n" not in str(failed.value)
