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


# -- streaming: iter_topic yields as it reads, times out on a stall only, closes its consumer --------------------


def _produce(settings, topic: str, count: int) -> list[bytes]:
    ensure_topics(settings, [topic])
    producer = Producer(settings.confluent_config(**{"log_level": 3}))
    values = [b"v%d" % i for i in range(count)]
    for i, value in enumerate(values):
        producer.produce(topic, value, b"k%d" % (i % 97))
    producer.flush(30)
    return values


@pytest.fixture
def spy(readback_spy):
    return readback_spy


def test_iter_topic_yields_before_the_topic_is_read_and_closes_when_the_caller_stops(settings, spy):
    from streams.readback import iter_topic

    topic = settings.topics.usage_events
    values = _produce(settings, topic, 30_000)
    stream = iter_topic(settings, topic, timeout=20)
    first = next(stream)
    reader = next(c for c in spy.instances if c.delivered)
    assert first.value in values
    assert reader.delivered < len(values), "the whole topic was read before the first record came out"
    stream.close()
    assert all(c.closed for c in spy.instances), "stopping early left the consumer open"


def test_a_long_read_is_not_a_timeout_as_long_as_it_progresses(settings, spy):
    """The timeout bounds a stall, not the whole read (10 M events take minutes, whatever the timeout)."""
    topic = settings.topics.usage_events
    values = _produce(settings, topic, 400)
    spy.per_call = (50, 0.25)  # >= 8 slow calls: over 2 s in all, against a 1 s timeout
    start = time.monotonic()
    records = read_topic(settings, topic, timeout=1)
    assert sorted(r.value for r in records) == sorted(values)
    assert time.monotonic() - start > 1.5


def test_the_callers_time_with_a_record_is_not_a_stall(settings, spy):
    from streams.readback import iter_topic

    topic = settings.topics.usage_events
    values = _produce(settings, topic, 400)
    seen = []
    for record in iter_topic(settings, topic, timeout=1):
        if not seen:
            time.sleep(1.5)  # the caller's own time with a record is no stall of the read
        seen.append(record.value)
    assert sorted(seen) == sorted(values)
    assert all(c.closed for c in spy.instances)


def test_iter_topic_counts_its_progress(settings):
    from streams.readback import iter_topic

    topic = settings.topics.usage_events
    values = _produce(settings, topic, 2_000)
    counts: list[int] = []
    assert len(list(iter_topic(settings, topic, timeout=20, on_progress=counts.append))) == len(values)
    assert counts == sorted(counts) and counts[-1] == len(values)
