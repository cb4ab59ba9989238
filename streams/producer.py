"""Idempotent, fast producer of raw records keyed by account (confluent-kafka)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from confluent_kafka import KafkaException, Producer

from streams.errors import KafkaUnavailable
from streams.settings import Settings

__all__ = ["RecordProducer", "account_key"]


def account_key(value: bytes) -> bytes | None:
    """The Kafka key of a raw usage event: its account_id, or None when it has none."""
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict):
        acct = obj.get("account_id")
        if acct is None and isinstance(obj.get("data"), dict):  # CloudEvents structured mode
            acct = obj["data"].get("account_id", obj.get("subject"))
        if isinstance(acct, str):
            return acct.encode()
    return None


class RecordProducer:
    """Produces (key, value) byte pairs with idempotence on; counts acked and failed records.

    Delivery failures are not swallowed: ``flush`` raises when any record failed.
    """

    def __init__(self, settings: Settings, **overrides: object):
        conf = settings.confluent_config(**{
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "log_level": 3,
        })
        conf.update(overrides)
        self._producer = Producer(conf)
        self.acked = 0
        self.failed = 0
        self.first_error: str | None = None

    def _on_delivery(self, err, _msg) -> None:
        if err is None:
            self.acked += 1
        else:
            self.failed += 1
            self.first_error = self.first_error or err.str()

    def produce(self, topic: str, value: bytes, key: bytes | None = None,
                headers: list[tuple[str, bytes]] | None = None) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=self._on_delivery)
                return
            except BufferError:  # local queue full: let librdkafka drain
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise KafkaUnavailable(f"cannot produce to {topic!r}: {exc.args[0].str()}") from None

    def produce_many(self, topic: str, records: Iterable[tuple[bytes | None, bytes]],
                     on_progress: Callable[[int], None] | None = None, every: int = 10_000) -> int:
        n = 0
        produce = self._producer.produce
        cb = self._on_delivery
        for key, value in records:
            try:
                produce(topic, value, key, on_delivery=cb)
            except BufferError:
                self._producer.poll(0.05)
                self.produce(topic, value, key)
            n += 1
            if n % every == 0:
                self._producer.poll(0)
                if on_progress:
                    on_progress(every)
        if on_progress and n % every:
            on_progress(n % every)
        return n

    def flush(self, timeout: float = 60.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise KafkaUnavailable(f"{remaining} records still unacknowledged after {timeout:.0f}s")
        if self.failed:
            raise KafkaUnavailable(f"{self.failed} records failed delivery: {self.first_error}")
