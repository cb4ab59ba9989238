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


def test_a_worker_refuses_firings_partitioned_unlike_the_events_and_topics_create_says_so(settings, worker_env):
    """The detector writes partition p's watermark marker to partition p of trigger-firings: with fewer
    firings partitions its publication fails for good. The worker refuses to start, in one line, and
    `forewarn topics create` flags the mismatch with a non-zero exit."""
    import os
    import subprocess
    import sys

    t = settings.topics
    ensure_topics(settings, [t.usage_events], partitions=4)
    ensure_topics(settings, [t.trigger_firings], partitions=2)
    env = {**os.environ, **worker_env}
    worker = subprocess.run([sys.executable, "-m", "forewarn.cli", "worker", "--loglevel", "warning"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 1
    assert worker.stderr.strip().splitlines()[-1] == (
        f"error: topics {t.usage_events} (4 partitions) and {t.trigger_firings} (2 partitions) must have the same "
        "partition count: an account's records and a partition's watermark markers go to the same partition "
        "number in each; recreate one of them, or point the settings at topics that match")
    assert "Traceback" not in worker.stderr
    create = subprocess.run([sys.executable, "-m", "forewarn.cli", "topics", "create", "--partitions", "4"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert create.returncode == 1
    assert f"{t.trigger_firings}" in create.stdout and "not 4 as asked" in create.stdout
    assert "must have the same partition count" in create.stderr
