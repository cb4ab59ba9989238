"""The raw consumer ceiling: confluent-kafka ``consume`` + ``orjson.loads`` per value, nothing else.

Whatever a Python worker does per event, it cannot read faster than this on the
same broker and data; ``forewarn bench pipeline`` divides the detect worker's
rate by it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streams.settings import Settings

__all__ = ["CeilingRun", "read_ceiling"]


@dataclass(frozen=True)
class CeilingRun:
    """Events read and the seconds from the first record to the last.

    >>> CeilingRun(events=1000, seconds=0.5).rate
    2000.0
    """

    events: int
    seconds: float

    @property
    def rate(self) -> float | None:
        return self.events / self.seconds if self.seconds > 0 else None


def read_ceiling(settings: Settings, topic: str, ends: dict[int, int], batch: int = 10_000,
                 timeout: float = 300.0) -> CeilingRun:
    """Read ``topic`` from the beginning to ``ends`` (next offset per partition), parsing every value."""
    consumer = Consumer(settings.confluent_config(**{
        "group.id": f"forewarn-bench-ceiling-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "log_level": 3,
    }))
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        pending = {p: end for p, end in ends.items() if end > 0}
        loads = orjson.loads
        read, first_t, last_t = 0, None, None
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            msgs = consumer.consume(batch, timeout=1.0)
            if not msgs:
                continue
            counted = first_t is not None
            for m in msgs:
                if m.error() is not None:
                    continue
                try:
                    loads(m.value())
                except orjson.JSONDecodeError:
                    pass  # the simulator's malformed noise: parsed (and failed) all the same
                read += counted
                p = m.partition()
                if p in pending and m.offset() >= pending[p] - 1:
                    del pending[p]
            last_t = time.perf_counter()
            if first_t is None:
                # the first batch arrived before any clock could start: the rate counts what follows it
                first_t = last_t
        return CeilingRun(read, (last_t - first_t) if first_t is not None else 0.0)
    finally:
        consumer.close()
