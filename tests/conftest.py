"""Session fixtures: a real Kafka and a real Redis for the whole test run.

They are started through the same code as ``forewarn dev up`` in a temporary state
directory, or taken from KAFKA_BOOTSTRAP_SERVERS / REDIS_URL when those are set.
Where FOREWARN_TESTCONTAINERS=1 and a Docker engine answers, testcontainers starts
them instead; without an engine that path is skipped and the jar-based broker is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import ClassVar

import pytest
from confluent_kafka import Consumer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from streams.settings import Settings, Topics

# Property tests judge results, not speed: on a loaded 2-core CI machine generating an example may be slow.
hypothesis_settings.register_profile("forewarn", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("forewarn")


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(autouse=True)
def _no_repeat_filter_left_on_the_root_handlers():
    """A test that runs a service's start-up in this process (``service_settings``) puts a repeat filter on
    the root logger's handlers, pytest's capture handlers among them, which live for the whole session: a
    later test expecting a line twice would see it once. Taken off after every test."""
    yield
    import logging

    from streams.logfilter import RepeatFilter

    for handler in logging.getLogger().handlers:
        for f in [f for f in handler.filters if isinstance(f, RepeatFilter)]:
            handler.removeFilter(f)


@pytest.fixture(scope="session")
def infra(tmp_path_factory):
    """(kafka_bootstrap, redis_url) of servers that live for the whole session."""
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    redis_url = os.environ.get("REDIS_URL")
    if kafka and redis_url:
        yield kafka, redis_url
        return
    if os.environ.get("FOREWARN_TESTCONTAINERS") == "1" and _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.redis import RedisContainer

        with KafkaContainer().with_kraft() as k, RedisContainer() as r:
            yield k.get_bootstrap_server(), f"redis://{r.get_container_host_ip()}:{r.get_exposed_port(6379)}/0"
        return
    from forewarn.devinfra import DevStack

    stack = DevStack(tmp_path_factory.mktemp("stack"), environ={})
    ends = stack.up()
    try:
        yield ends.kafka_bootstrap_servers, ends.redis_url
    finally:
        stack.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(infra) -> str:
    return infra[0]


@pytest.fixture(scope="session")
def redis_url(infra) -> str:
    return infra[1]


@pytest.fixture
def unique_topics() -> Topics:
    """Topic names private to one test, so tests never see each other's records."""
    run = uuid.uuid4().hex[:8]
    return Topics.suffixed(f"t{run}")


@pytest.fixture
def settings(kafka_bootstrap, redis_url, unique_topics) -> Settings:
    return Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url, topics=unique_topics,
                    app_id=f"forewarn-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def worker_env(settings) -> dict[str, str]:
    """Environment that points a ``forewarn worker`` subprocess at this test's settings."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "REDIS_URL": settings.redis_url.get_secret_value(),
        "FOREWARN_APP_ID": settings.app_id,
        "FOREWARN_TOPICS": settings.topics.model_dump_json(),
    }


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(os.environ.get("FOREWARN_TEST_ARTIFACTS", "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


class _SpyConsumer(Consumer):
    """The reader's consumer, counting what it delivers and whether it was closed; ``per_call`` slows it down."""

    instances: ClassVar[list[_SpyConsumer]] = []
    per_call: ClassVar[tuple[int, float] | None] = None  # (at most N messages, then sleep S seconds) per consume()

    def __init__(self, config):
        super().__init__(config)
        self.delivered = 0
        self.closed = False
        _SpyConsumer.instances.append(self)

    def consume(self, num_messages=1, timeout=-1):
        if self.per_call is not None:
            num_messages = min(num_messages, self.per_call[0])
            time.sleep(self.per_call[1])
        messages = super().consume(num_messages, timeout)
        self.delivered += len(messages)
        return messages

    def close(self):
        self.closed = True
        super().close()


@pytest.fixture
def readback_spy(monkeypatch):
    """``streams.readback`` with :class:`_SpyConsumer` as its consumer (its instances reset for the test)."""
    import streams.readback

    monkeypatch.setattr(_SpyConsumer, "instances", [])
    monkeypatch.setattr(_SpyConsumer, "per_call", None)
    monkeypatch.setattr(streams.readback, "Consumer", _SpyConsumer)
    return _SpyConsumer
