"""The contract of the batch path: what a batch handler receives and promises.

A *chunk* is the run of records that one fetch returned for one partition, in
offset order. A batch handler takes a whole chunk and returns once the chunk's
effects are durable; only then are the chunk's offsets acknowledged to Faust, in
one step. A handler that raises stops its partition: nothing at or after the
failing chunk is acknowledged, and the worker goes down loudly.

Records are the Kafka client's own record objects, passed through untouched so
the hot path builds nothing per record; handlers read only the fields named by
``RawRecord``.

>>> chunk = Chunk(TP("usage-events", 0), [PlainRecord(5, b"a1", b"{}"), PlainRecord(6, b"a2", b"{}")],
...               generation=3, nbytes=8)
>>> chunk.first_offset, chunk.last_offset, len(chunk)
(5, 6, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Awaitable, Callable, Protocol, Sequence

from faust.types import TP

__all__ = ["TP", "RawRecord", "BatchHandler", "Chunk", "PlainRecord", "chunk_bytes"]


class RawRecord(Protocol):
    """One Kafka record as fetched: bytes in, nothing decoded."""

    offset: int
    key: bytes | None
    value: bytes | None
    #: Broker or producer timestamp in epoch milliseconds.
    timestamp: int
    headers: Sequence[tuple[str, bytes]]


#: ``async def handle(partition: TP, records: list[RawRecord]) -> None``
BatchHandler = Callable[[TP, list[Any]], Awaitable[None]]


@dataclass(slots=True)
class PlainRecord:
    """A record built by hand with the ``RawRecord`` fields: replays from files, doctests, unit tests."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0
    headers: Sequence[tuple[str, bytes]] = ()

    @property
    def serialized_key_size(self) -> int:
        return len(self.key) if self.key is not None else -1

    @property
    def serialized_value_size(self) -> int:
        return len(self.value) if self.value is not None else -1


def chunk_bytes(records: Sequence[Any]) -> int:
    """Bytes of keys and values in ``records``, as the client measured them on the wire.

    A null key or value counts as -1 (the client's convention); the sum is used
    for the in-flight budget, where that error does not matter and a correction
    would cost another pass over every record — but it is never below zero: a
    chunk of null-key, null-value records (which the contract dead-letters) summed
    to -2, and releasing that from the budget took it below zero, which killed the
    partition's lane silently and, with the bytes it never gave back, the worker.

    >>> chunk_bytes([PlainRecord(0, b"ab", b"xyz"), PlainRecord(1, b"k", b"q")])
    7
    >>> chunk_bytes([PlainRecord(0, None, None)])
    0
    """
    return max(0, sum(r.serialized_key_size + r.serialized_value_size for r in records))


@dataclass(slots=True)
class Chunk:
    """One partition's records from one fetch, with what is needed to acknowledge them."""

    tp: TP
    records: list[Any]
    #: The consumer-group generation the records were fetched in; acks from an
    #: older generation are refused because the partition may belong to someone else.
    generation: int
    nbytes: int
    fetched_at: float = field(default_factory=monotonic)

    @property
    def first_offset(self) -> int:
        return self.records[0].offset

    @property
    def last_offset(self) -> int:
        return self.records[-1].offset

    def __len__(self) -> int:
        return len(self.records)
