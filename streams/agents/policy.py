"""The policy worker: one partition's chunk of firings → policy engine → Redis (one script) → Kafka.

Records on ``trigger-firings`` are firings (JSON) or the detector's watermark
markers (header ``forewarn-watermark``), which let the policy decide what it holds
without waiting for the next firing. Decisions go to ``intervention-decisions``,
treated ones also to ``intervention-commands``, through the same outbox as the
detector's: stored with the state, published, trimmed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import orjson
from confluent_kafka import Producer
from prometheus_client import Counter, Gauge

from interventions.policy import PolicyEngine, PolicyResult
from schemas.firing import Firing
from streams.dispatcher.metrics import DecisionMetrics
from streams.outbox import WATERMARK_HEADER, OutboxPublisher, OutboxRecord
from streams.settings import Settings
from streams.stores.policy_redis import RedisPolicyStore
from streams.stores.stale import redo_when_stale

__all__ = ["PolicyRuntime"]


def _is_marker(record: Any) -> bool:
    return any(name == WATERMARK_HEADER for name, _ in (record.headers or ()))


class PolicyRuntime:
    """Runs the policy for the partitions this worker owns; one partition at a time."""

    def __init__(self, settings: Settings, engine: PolicyEngine, store: RedisPolicyStore, metrics: DecisionMetrics,
                 producer: Producer | None = None):
        self.engine = engine
        self.store = store
        self.metrics = metrics
        producer = producer or Producer(settings.confluent_config(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 5, "log_level": 3}))
        self.publisher = OutboxPublisher(producer, {
            "decisions": settings.topics.intervention_decisions,
            "commands": settings.topics.intervention_commands,
        })
        self._locks: dict[int, threading.Lock] = {}
        self._outbox_checked: set[int] = set()
        self.position = Gauge("forewarn_policy_position_offset",
                              "Offset of the last trigger-firings record the policy has applied, by partition.",
                              ["partition"], registry=metrics.registry)
        self.stale_retries = Counter("forewarn_policy_stale_writes",
                                     "Policy chunks whose write was refused because another worker wrote the "
                                     "partition first (an ownership overlap in a rebalance); each is worked out "
                                     "again on that state.", registry=metrics.registry)

    def assigned(self, partition: int) -> None:
        self._outbox_checked.discard(partition)

    revoked = assigned

    def handle_chunk(self, partition: int, records: Sequence[Any]) -> PolicyResult:
        """Decide one chunk of ``trigger-firings`` records of ``partition`` (blocking; call on a thread).

        If another worker wrote the partition between this chunk's read and its write (two owners
        overlapping in a rebalance: the write is refused as a whole), the chunk is decided again on the
        state the other left: the firings it applied are skipped by offset, the rest decided once.
        """
        return redo_when_stale(lambda: self._handle_chunk_once(partition, records), refused=self.stale_retries,
                               where=f"policy partition {partition}")

    def _handle_chunk_once(self, partition: int, records: Sequence[Any]) -> PolicyResult:
        with self._locks.setdefault(partition, threading.Lock()):
            if partition not in self._outbox_checked:
                self.publisher.publish(self.store, partition)
                self._outbox_checked.add(partition)
            firings: list[Firing] = []
            offsets: list[int] = []
            marks: list[tuple[int, int]] = []  # markers where the topic has them, among the firings
            for rec in records:
                body = orjson.loads(rec.value)
                if _is_marker(rec):
                    marks.append((len(firings), body["watermark"]))
                else:
                    firings.append(Firing.from_json(body))
                    offsets.append(rec.offset)
            result = self.engine.process(partition, firings, offsets, marks=marks)
            outbox = [OutboxRecord("decisions", d.account_id.encode(), d.model_dump_json().encode())
                      for d in result.decisions]
            outbox += [OutboxRecord("commands", c.account_id.encode(), c.model_dump_json().encode())
                       for c in result.commands]
            self.publisher.publish(self.store, partition, self.store.commit(partition, outbox))
            self.metrics.count(result.decisions, result.duplicates, result.stale, result.redelivered)
            self.position.labels(partition=str(partition)).set(records[-1].offset)
            return result
