"""The ``kafka`` channel's sending half: forward the command to a topic of the user's.

Key = account id, value = the command JSON as consumed, header
``idempotency-key`` = command id. The producer is idempotent; a send counts
as delivered once the broker acknowledged it (acks=all).
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from confluent_kafka import KafkaException, Producer

from interventions.channels.base import ChannelSpec
from interventions.channels.kafka_topic import KafkaTopicChannel
from interventions.errors import DeliveryError
from schemas.command import InterventionCommand
from streams.settings import Settings

__all__ = ["KafkaChannel"]


class KafkaChannel(KafkaTopicChannel):
    """Forwards commands to ``options['topic']`` on the cluster of ``settings``."""

    kind: ClassVar[str] = "kafka"

    def __init__(self, spec: ChannelSpec, settings: Settings):
        super().__init__(spec)
        self._topic = spec.options["topic"]
        self._timeout = spec.timeout_s
        self._producer = Producer(settings.confluent_config(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 2, "log_level": 3,
        }))
        self._lock = threading.Lock()

    def deliver(self, command: InterventionCommand, body: bytes) -> str:
        done = threading.Event()
        outcome: list[object] = []

        def acked(err, msg) -> None:
            outcome.append(err)
            done.set()

        try:
            self._producer.produce(self._topic, body, command.account_id.encode(),
                                   headers=[("idempotency-key", command.command_id.encode())], on_delivery=acked)
        except (BufferError, KafkaException) as exc:
            raise DeliveryError("kafka", f"{self.name}: cannot produce to {self._topic!r}: {exc}", retryable=True) from None
        # Any thread's poll serves every callback; each sender polls until its own one has fired.
        deadline = time.monotonic() + self._timeout
        while not done.is_set() and time.monotonic() < deadline:
            with self._lock:
                self._producer.poll(0.01)
        if not done.is_set():
            raise DeliveryError("timeout", f"{self.name}: no acknowledgement from {self._topic!r} within "
                                f"{self._timeout:g}s", retryable=True)
        err = outcome[0]
        if err is not None:
            raise DeliveryError("kafka", f"{self.name}: {err.str()}", retryable=err.retriable())
        return f"topic {self._topic}"

    def close(self) -> None:
        self._producer.flush(10)
