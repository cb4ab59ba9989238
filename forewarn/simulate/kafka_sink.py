"""A simulator sink that produces each day's records to Kafka (and optionally a file too).

>>> days = []
>>> tee = Tee(days.append, days.append)
>>> tee(iter([(b"acct-1", b"{}")]))
>>> days
[[(b'acct-1', b'{}')], [(b'acct-1', b'{}')]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from streams.producer import RecordProducer
from streams.settings import Settings

__all__ = ["KafkaSink", "Tee"]


class KafkaSink:
    """Produces records to ``topic`` with Forewarn's idempotent producer; ``close`` waits for every ack."""

    def __init__(self, settings: Settings, topic: str | None = None):
        self.topic = topic or settings.topics.usage_events
        self.producer = RecordProducer(settings)
        self.records = 0

    def __call__(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        """Produce one day of (key, value) records; delivery is confirmed at ``flush``/``close``."""
        self.records += self.producer.produce_many(self.topic, records)

    def flush(self) -> None:
        self.producer.flush()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "KafkaSink":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()


class Tee:
    """Hands every day's records to several sinks (e.g. the events file and Kafka)."""

    def __init__(self, *sinks: Callable[[Iterable[tuple[bytes | None, bytes]]], None]):
        self.sinks = sinks

    def __call__(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        batch = list(records)
        for sink in self.sinks:
            sink(batch)
