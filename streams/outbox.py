"""Records that must reach Kafka because state changed: written to Redis with the state, then published.

A chunk's firings and dead-letters are appended to the partition's outbox in the
same atomic script that stores its state and applied offset. They are published
afterwards and trimmed once Kafka acknowledged them. A crash in between leaves
them in the outbox, and the next owner of the partition publishes them before
anything else: nothing is lost, and what is published twice carries the same
deterministic id (firings) or the same source offset (dead letters).

>>> rec = OutboxRecord("dlq", b"acct-1", b"\\xff not json", (("reason", b"invalid_json"),))
>>> OutboxRecord.decode(rec.encode()) == rec
True
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from streams.errors import KafkaUnavailable

__all__ = ["OutboxRecord", "OutboxPublisher", "Appended", "WATERMARK_HEADER"]

#: Header of a watermark marker on the firings topic: the detector's event-time progress of a partition.
WATERMARK_HEADER = "forewarn-watermark"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One record to publish. ``role`` names the topic by its role: ``firings`` or ``dlq``."""

    role: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    #: An explicit partition (watermark markers); None: the key decides.
    partition: int | None = None

    def encode(self) -> bytes:
        return orjson.dumps({
            "r": self.role,
            "k": None if self.key is None else _b64(self.key),
            "v": _b64(self.value),
            "h": [[n, _b64(v)] for n, v in self.headers],
            "p": self.partition,
        })

    @classmethod
    def decode(cls, raw: bytes) -> "OutboxRecord":
        obj = orjson.loads(raw)
        key = obj["k"]
        return cls(
            obj["r"],
            None if key is None else base64.b64decode(key),
            base64.b64decode(obj["v"]),
            tuple((n, base64.b64decode(v)) for n, v in obj["h"]),
            obj.get("p"),
        )


@dataclass(frozen=True, slots=True)
class Appended:
    """What one atomic write appended to a partition's outbox, and the list's length right after it.

    When the length equals the number of entries appended, the outbox held nothing
    else: the publisher can send these entries as they are, without reading the
    list back from Redis (one round trip per chunk saved, and none at all when
    nothing was appended).

    >>> rec = OutboxRecord("dlq", None, b"x")
    >>> Appended.of([rec], 1).alone, Appended.of([rec], 2).alone, Appended.of([], 0).alone
    (True, False, True)
    """

    records: tuple[OutboxRecord, ...]
    entries: tuple[bytes, ...]
    length: int

    @classmethod
    def of(cls, records: Sequence[OutboxRecord], length: int, entries: Sequence[bytes] | None = None) -> "Appended":
        return cls(tuple(records), tuple(r.encode() for r in records) if entries is None else tuple(entries), length)

    @property
    def alone(self) -> bool:
        """True when the outbox holds exactly these entries."""
        return self.length == len(self.entries)


class OutboxStore(Protocol):
    def outbox_entries(self, partition: int) -> list[bytes]: ...

    def confirm_published(self, partition: int, entries: Sequence[bytes]) -> int: ...


class OutboxPublisher:
    """Publishes a partition's outbox with an idempotent producer and trims it once Kafka acknowledged."""

    def __init__(self, producer, topics: Mapping[str, str],
                 on_published: Callable[[OutboxRecord], None] | None = None):
        self.producer = producer
        self.topics = dict(topics)
        self.on_published = on_published

    def publish(self, store: OutboxStore, partition: int, appended: Appended | None = None) -> int:
        """Publish the partition's outbox and trim what Kafka acknowledged; returns how many were published.

        ``appended``: what the write just before this call appended, and the outbox's length after
        it. When those entries are the whole outbox, they are published without reading it back.
        """
        if appended is not None and appended.alone:
            raw, entries = list(appended.entries), list(appended.records)
        else:
            raw = store.outbox_entries(partition)
            entries = [OutboxRecord.decode(r) for r in raw]
        if not raw:
            return 0
        failures: list[str] = []

        def delivered(err, _msg) -> None:
            if err is not None:
                failures.append(err.str())

        for rec in entries:
            kwargs = {"partition": rec.partition} if rec.partition is not None else {}
            self.producer.produce(self.topics[rec.role], rec.value, rec.key, headers=list(rec.headers),
                                  on_delivery=delivered, **kwargs)
        remaining = self.producer.flush(60)
        if remaining or failures:
            raise KafkaUnavailable(f"publishing the outbox of partition {partition} failed "
                                   f"({remaining} unacknowledged; {failures[:1]}); it stays in Redis for a retry")
        store.confirm_published(partition, raw)
        if self.on_published is not None:
            for rec in entries:
                self.on_published(rec)
        return len(entries)
