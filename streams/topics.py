"""Topic administration: idempotent creation of every Forewarn topic.

A topic the broker has just created is not usable at once: until each
partition's leader is elected and known to the broker, a metadata request may
not list the topic or its partitions and an offset request fails with
NOT_LEADER_FOR_PARTITION. :func:`ensure_topics` returns only once every
partition of the topics it created has a leader that answers an offset
request, so a caller may read or produce right away.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from streams.errors import KafkaUnavailable, StreamsError
from streams.logfilter import unpolled
from streams.settings import Settings

__all__ = ["TopicResult", "ensure_topics", "admin_client", "delete_topics", "partition_counts", "check_keyed_alike"]


@dataclass(frozen=True)
class TopicResult:
    name: str
    partitions: int
    created: bool


def admin_client(settings: Settings) -> AdminClient:
    """An admin client; it never polls, so librdkafka's lines go to stderr (see :func:`unpolled`)."""
    return AdminClient(unpolled(settings.confluent_config(**{"log_level": 3})))


def ensure_topics(settings: Settings, names: list[str] | None = None, partitions: int | None = None,
                  timeout: float = 30.0) -> list[TopicResult]:
    """Create the topics that do not exist yet; existing ones are left as they are.

    Returns once every partition of the topics created (here or by a racing
    caller) has a leader that answers an offset request; ``timeout`` bounds
    each step; past it :class:`KafkaUnavailable` names the topics still waiting.
    """
    admin = admin_client(settings)
    names = names or settings.topics.all_names()
    partitions = partitions or settings.topics.partitions
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot list topics at {settings.kafka_bootstrap_servers}: {exc.args[0].str()}") from None
    wanted = [
        NewTopic(n, num_partitions=partitions, replication_factor=settings.topics.replication_factor)
        for n in names if n not in existing
    ]
    futures = admin.create_topics(wanted, operation_timeout=timeout) if wanted else {}
    # topic -> the partition count it must show (None: a racing caller created it with its own count)
    fresh: dict[str, int | None] = {}
    for name, future in futures.items():
        try:
            future.result(timeout)
            fresh[name] = partitions
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise KafkaUnavailable(f"cannot create topic {name!r}: {exc.args[0].str()}") from None
            fresh[name] = None
    led = _wait_for_leaders(admin, fresh, timeout) if fresh else {}
    results: list[TopicResult] = []
    for name in names:
        if fresh.get(name) is not None:
            results.append(TopicResult(name, partitions, True))
            continue
        meta = led[name] if name in led else admin.list_topics(topic=name, timeout=timeout).topics[name]
        results.append(TopicResult(name, len(meta.partitions), False))
    return results


#: Errors a partition reports while its leader is being elected or becoming known to the broker asked.
_NOT_YET = frozenset({
    KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_PARTITION, KafkaError._UNKNOWN_TOPIC, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT,
    KafkaError._TRANSPORT,
    # a fresh leader whose metadata has not reached the broker answering yet
    KafkaError.UNKNOWN_LEADER_EPOCH, KafkaError.FENCED_LEADER_EPOCH,
})


def _wait_for_leaders(admin: AdminClient, expected: dict[str, int | None], timeout: float) -> dict[str, Any]:
    """Poll until every partition of the ``expected`` topics has a leader that answers an offset request.

    ``expected`` maps a topic to its partition count (None: any). Metadata first (the
    topic is listed with its partitions, each with a leader), then one offset request
    per partition: a broker can list a leader a moment before it serves as one, and
    an offset request is what a reader sends first. Returns the topics' metadata.
    """
    deadline = time.monotonic() + timeout
    pause = 0.02
    while True:
        left = max(1.0, deadline - time.monotonic())
        try:
            topics = admin.list_topics(timeout=left).topics
        except KafkaException as exc:
            if exc.args[0].code() not in _NOT_YET:
                raise KafkaUnavailable(f"cannot read topic metadata: {exc.args[0].str()}") from None
            topics = {}
        waiting = [name for name, count in expected.items() if not _led(topics.get(name), count)]
        if not waiting:
            waiting = _not_serving(admin, topics, list(expected), left)
            if not waiting:
                return {name: topics[name] for name in expected}
        if time.monotonic() + pause > deadline:
            raise KafkaUnavailable(f"topics {waiting} were created but some of their partitions still had no "
                                   f"leader after {timeout:.0f}s; check the brokers and the controller's log")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def _led(meta: Any, count: int | None) -> bool:
    """The topic's metadata lists all its partitions, each with a leader."""
    if meta is None or meta.error is not None or not meta.partitions:
        return False
    if count is not None and len(meta.partitions) != count:
        return False
    return all(p.leader >= 0 and p.error is None for p in meta.partitions.values())


def _not_serving(admin: AdminClient, topics: dict[str, Any], names: list[str], timeout: float) -> list[str]:
    """The topics among ``names`` with a partition whose leader does not answer an offset request yet."""
    requests = {TopicPartition(name, p): OffsetSpec.latest() for name in names for p in topics[name].partitions}
    lagging: set[str] = set()
    for tp, future in admin.list_offsets(requests, request_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() not in _NOT_YET:
                raise KafkaUnavailable(f"cannot read the end offset of {tp.topic}[{tp.partition}]: "
                                       f"{exc.args[0].str()}") from None
            lagging.add(tp.topic)
    return sorted(lagging)


def partition_counts(settings: Settings, names: list[str], timeout: float = 10.0) -> dict[str, int | None]:
    """Each topic's partition count on the cluster (None: it does not exist)."""
    try:
        meta = admin_client(settings).list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot list topics at {settings.kafka_bootstrap_servers}: {exc.args[0].str()}") from None
    counts: dict[str, int | None] = {}
    for name in names:
        topic = meta.get(name)
        counts[name] = len(topic.partitions) if topic is not None and topic.error is None and topic.partitions else None
    return counts


def check_keyed_alike(counts: dict[str, int | None]) -> None:
    """Refuse (one line) topics that exist with different partition counts.

    The detector writes partition p's watermark marker to partition p of the
    firings topic, and an account's records must land on the same partition
    number in every topic; with different counts that breaks (a marker to a
    partition that does not exist fails its publication for good).

    >>> check_keyed_alike({"usage-events": 4, "trigger-firings": 4, "other": None})
    >>> check_keyed_alike({"usage-events": 4, "trigger-firings": 2})
    Traceback (most recent call last):
    ...
    streams.errors.StreamsError: topics usage-events (4 partitions) and trigger-firings (2 partitions) must have the same partition count: an account's records and a partition's watermark markers go to the same partition number in each; recreate one of them, or point the settings at topics that match
    """
    present = {name: n for name, n in counts.items() if n is not None}
    if len(set(present.values())) > 1:
        listed = " and ".join(f"{name} ({n} partitions)" for name, n in present.items())
        raise StreamsError(f"topics {listed} must have the same partition count: an account's records and a "
                           "partition's watermark markers go to the same partition number in each; recreate one "
                           "of them, or point the settings at topics that match")


def delete_topics(settings: Settings, names: list[str], timeout: float = 30.0) -> list[str]:
    """Delete ``names`` and wait for the broker; returns the names it could not delete (with why)."""
    admin = admin_client(settings)  # kept alive until the futures resolve: a dropped client cancels them
    futures = admin.delete_topics(names, operation_timeout=timeout)
    failed = []
    for name, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            failed.append(f"{name}: {exc.args[0].str()}")
    return failed
