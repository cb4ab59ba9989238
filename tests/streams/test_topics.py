"""Topic creation against the real broker: a topic ensure_topics created is usable at once."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.topics import ensure_topics

pytestmark = pytest.mark.integration


def test_every_partition_of_a_created_topic_answers_an_offset_request_right_away(settings):
    """Straight after creation a broker may still answer NOT_LEADER_FOR_PARTITION (on the shared broker it
    did for about a quarter of the partitions); ensure_topics returns only once each partition is led."""
    consumer = Consumer(settings.confluent_config(**{"group.id": f"topics-{uuid.uuid4().hex[:8]}", "log_level": 3}))
    try:
        for round_ in range(3):
            names = [f"{n}.r{round_}" for n in settings.topics.all_names()]
            results = ensure_topics(settings, names, partitions=4)
            assert [(r.name, r.partitions, r.created) for r in results] == [(n, 4, True) for n in names]
            for name in names:
                meta = consumer.list_topics(name, timeout=10).topics[name]
                assert sorted(meta.partitions) == [0, 1, 2, 3]
                for p in meta.partitions:
                    assert consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10) == (0, 0)
            again = ensure_topics(settings, names, partitions=4)
            assert [(r.name, r.partitions, r.created) for r in again] == [(n, 4, False) for n in names]
    finally:
        consumer.close()
