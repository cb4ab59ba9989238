"""The ``kafka`` channel's sending half: forward the command to a topic of the user's.

Key = account id, value = the command JSON as consumed, header
``idempotency-key`` = command id. The producer is idempotent; a send counts
as delivered once the broker acknowledged it (acks=all).
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from confluent_kafka import KafkaError, KafkaException, Producer

from interventions.channels.base import ChannelSpec
from interventions.channels.kafka_topic import KafkaTopicChannel
from interventions.errors import DeliveryError
from schemas.command import InterventionCommand
from streams.settings import Settings

__all__ = ["KafkaChannel"]

#: How long past the channel's timeout a sender waits for librdkafka's own verdict on its message.
_GRACE_S = 5.0


class KafkaChannel(KafkaTopicChannel):
    """Forwards commands to ``options['topic']`` on the cluster of ``settings``."""

    kind: ClassVar[str] = "kafka"

    def __init__(self, spec: ChannelSpec, settings: Settings):
        super().__init__(spec)
        self._topic = spec.options["topic"]
        self._timeout = spec.timeout_s
        # librdkafka itself gives a message up after the channel's timeout: a send reported as failed is then
        # not still queued to go out later (which, with the dispatcher's retries, made copies in the user's topic).
        self._producer = Producer(settings.confluent_config(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 2, "log_level": 3,
            "message.timeout.ms": max(1000, int(self._timeout * 1000)),
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
        # Any thread's poll serves every callback; each sender polls until its own one has fired, which
        # librdkafka guarantees within message.timeout.ms (the grace covers its timer's granularity).
        deadline = time.monotonic() + self._timeout + _GRACE_S
        while not done.is_set() and time.monotonic() < deadline:
            with self._lock:
                self._producer.poll(0.01)
        if not done.is_set():
            raise DeliveryError("timeout", f"{self.name}: no delivery report from {self._topic!r} within "
                                f"{self._timeout:g}s", retryable=True)
        err = outcome[0]
        if err is not None:
            timed_out = err.code() == KafkaError._MSG_TIMED_OUT  # given up on, so a retry is a new attempt
            raise DeliveryError("timeout" if timed_out else "kafka", f"{self.name}: {err.str()}",
                                retryable=timed_out or err.retriable())
        return f"topic {self._topic}"

    def close(self) -> None:
        self._producer.flush(10)
