"""The ``kafka`` channel against the real broker: a send it reports as failed is not sent later."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from dispatch_harness import command
from interventions.channels.base import ChannelSpec
from interventions.delivery import deliver_with_retries
from interventions.retry import Backoff
from streams.dispatcher.kafka_channel import KafkaChannel

pytestmark = pytest.mark.integration


def test_attempts_that_timed_out_never_reach_the_topic_later(settings):
    """The user's topic is missing while the dispatcher tries (3 attempts of 1 s each): every attempt must
    be given up by the producer itself, so none lands once the topic appears — the command is dead-lettered
    as failed, and a copy arriving later would be a contact nobody recorded."""
    topic = f"customer-outreach-{uuid.uuid4().hex[:8]}"
    channel = KafkaChannel(ChannelSpec("outreach", "kafka", {"topic": topic}, timeout_s=1), settings)
    cmd = command(1, "outreach")
    report = deliver_with_retries(channel, cmd, cmd.model_dump_json().encode(), max_attempts=3,
                                  backoff=Backoff(0.1, 0.1), expires_at=time.time() + 3600)
    assert report.outcome == "failed" and report.attempts == 3
    assert report.reason == "retries_exhausted" and "timeout" in report.detail
    admin = AdminClient(settings.confluent_config())
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    channel.close()
    consumer = Consumer(settings.confluent_config(**{"group.id": topic, "auto.offset.reset": "earliest"}))
    try:
        consumer.subscribe([topic])
        copies, deadline = [], time.monotonic() + 8
        while time.monotonic() < deadline:
            copies += [m for m in consumer.consume(10, timeout=0.5) if m.error() is None]
    finally:
        consumer.close()
    assert copies == [], f"{len(copies)} copies reached {topic} after the attempts were reported failed"
