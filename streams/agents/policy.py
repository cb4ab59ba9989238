"""The policy worker: one partition's chunk of firings → policy engine → Redis (one script) → Kafka.

Records on ``trigger-firings`` are firings (JSON) or the detector's watermark
markers (header ``forewarn-watermark``), which let the policy decide what it holds
without waiting for the next firing. Decisions go to ``intervention-decisions``,
treated ones also to ``intervention-commands``, through the same outbox as the
detector's: stored with the state, published, trimmed. A record that is neither
(only a bug or a stray producer writes one) goes to ``trigger-firings.dlq`` with
its reason, in the same atomic write, and is counted; the partition goes on.
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
from schemas.timefmt import parse_rfc3339
from streams.agents.dead_letter import dlq_headers
from streams.dispatcher.metrics import DecisionMetrics
from streams.outbox import WATERMARK_HEADER, OutboxPublisher, OutboxRecord
from streams.settings import Settings
from streams.stores.policy_redis import RedisPolicyStore
from streams.stores.stale import redo_when_stale

__all__ = ["PolicyRuntime"]


def _is_marker(record: Any) -> bool:
    return any(name == WATERMARK_HEADER for name, _ in (record.headers or ()))


def read_record(record: Any) -> Firing | int | tuple[str, str]:
    """A firing, a marker's watermark, or why the record is neither: ``(reason, detail)`` for the DLQ.

    >>> class R:
    ...     def __init__(self, value, headers=()): self.value, self.headers = value, headers
    >>> read_record(R(b'{"trigger": "t", "account_id": "a", "fired_at": "2026-01-01T00:00:00Z"}')).account_id
    'a'
    >>> read_record(R(b'{"watermark": 5}', [(WATERMARK_HEADER, b"1")]))
    5
    >>> read_record(R(b'{"trigger": "t", "account_id": "a"}'))
    ('invalid_firing', "missing or wrongly typed field 'fired_at'")
    >>> read_record(R(b'not json'))[0]
    'invalid_json'
    """
    try:
        body = orjson.loads(record.value) if record.value is not None else None
    except orjson.JSONDecodeError as exc:
        return "invalid_json", f"not JSON: {exc}"
    if not isinstance(body, dict):
        return "invalid_json", "not a JSON object"
    if _is_marker(record):
        wm = body.get("watermark")
        if type(wm) is not int:
            return "invalid_marker", "a watermark marker without an integer 'watermark'"
        return wm
    for name in ("trigger", "account_id", "fired_at"):
        if not isinstance(body.get(name), str) or not body[name]:
            return "invalid_firing", f"missing or wrongly typed field {name!r}"
    if not isinstance(body.get("evidence", {}), dict):
        return "invalid_firing", "'evidence' is not an object"
    try:
        parse_rfc3339(body["fired_at"])
    except ValueError as exc:
        return "invalid_firing", f"fired_at: {exc}"
    return Firing.from_json(body)


class PolicyRuntime:
    """Runs the policy for the partitions this worker owns; one partition at a time."""

    def __init__(self, settings: Settings, engine: PolicyEngine, store: RedisPolicyStore, metrics: DecisionMetrics,
                 producer: Producer | None = None):
        self.engine = engine
        self.store = store
        self.metrics = metrics
        producer = producer or Producer(settings.confluent_config(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 5, "log_level": 3}))
        self.source = settings.topics.trigger_firings
        self.publisher = OutboxPublisher(producer, {
            "decisions": settings.topics.intervention_decisions,
            "commands": settings.topics.intervention_commands,
            "dlq": settings.topics.trigger_firings_dlq,
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
        self.invalid = Counter("forewarn_policy_invalid_records",
                               "trigger-firings records that were neither a firing nor a watermark marker, sent to "
                               "the firings dead-letter topic, by reason.", ["reason"], registry=metrics.registry)

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
            refused: list[tuple[Any, str, str]] = []
            for rec in records:
                read = read_record(rec)
                if isinstance(read, Firing):
                    firings.append(read)
                    offsets.append(rec.offset)
                elif isinstance(read, int):
                    marks.append((len(firings), read))
                else:
                    refused.append((rec, *read))
            result = self.engine.process(partition, firings, offsets, marks=marks, last_offset=records[-1].offset)
            refused = [r for r in refused if r[0].offset > result.applied_before]  # a redelivered one is stored
            outbox = [OutboxRecord("dlq", rec.key, rec.value if rec.value is not None else b"",
                                   tuple(dlq_headers(reason, detail, self.source, partition, rec.offset)))
                      for rec, reason, detail in refused]
            outbox += [OutboxRecord("decisions", d.account_id.encode(), d.model_dump_json().encode())
                       for d in result.decisions]
            outbox += [OutboxRecord("commands", c.account_id.encode(), c.model_dump_json().encode())
                       for c in result.commands]
            appended = self.store.commit(partition, outbox)
            # counted once stored (a refused write is redone) and before publishing: a redelivery after a
            # failed publication finds them applied and would not count them again
            for _rec, reason, _detail in refused:
                self.invalid.labels(reason=reason).inc()
            self.publisher.publish(self.store, partition, appended)
            self.metrics.count(result.decisions, result.duplicates, result.stale, result.redelivered)
            self.position.labels(partition=str(partition)).set(records[-1].offset)
            return result
