"""Topic administration: idempotent creation of every Forewarn topic."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from streams.errors import KafkaUnavailable
from streams.settings import Settings

__all__ = ["TopicResult", "ensure_topics", "admin_client"]


@dataclass(frozen=True)
class TopicResult:
    name: str
    partitions: int
    created: bool


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(settings.confluent_config(**{"log_level": 3}))


def ensure_topics(settings: Settings, names: list[str] | None = None, partitions: int | None = None,
                  timeout: float = 30.0) -> list[TopicResult]:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = admin_client(settings)
    names = names or settings.topics.all_names()
    partitions = partitions or settings.topics.partitions
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot list topics at {settings.kafka_bootstrap_servers}: {exc.args[0].str()}") from None
    results: list[TopicResult] = []
    wanted = [
        NewTopic(n, num_partitions=partitions, replication_factor=settings.topics.replication_factor)
        for n in names if n not in existing
    ]
    futures = admin.create_topics(wanted, operation_timeout=timeout) if wanted else {}
    for name in names:
        if name in futures:
            try:
                futures[name].result(timeout)
                results.append(TopicResult(name, partitions, True))
                continue
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise KafkaUnavailable(f"cannot create topic {name!r}: {exc.args[0].str()}") from None
        meta = admin.list_topics(topic=name, timeout=timeout).topics[name]
        results.append(TopicResult(name, len(meta.partitions), False))
    return results
