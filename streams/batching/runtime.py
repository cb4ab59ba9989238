"""The batch path's state in one Faust app: its batch agents, in-flight budget, metrics and health.

``attach_batching`` hangs a ``BatchRuntime`` on the app (``app.forewarn_batching``),
where the batch consumer finds it: Faust builds the consumer itself from the
broker URL, so the app is the one object both sides can see.

>>> import faust
>>> from prometheus_client import CollectorRegistry
>>> app = faust.App("doc-batching", broker="batchkafka://127.0.0.1:9092")
>>> runtime = attach_batching(app, max_inflight_bytes=8 << 20, registry=CollectorRegistry())
>>> batching_of(app) is runtime, runtime.healthy
(True, True)
>>> attach_batching(faust.App("doc-stock", broker="kafka://127.0.0.1:9092"),
...                 max_inflight_bytes=8 << 20, registry=CollectorRegistry())
Traceback (most recent call last):
...
streams.batching.errors.NotBatchTransport: app 'doc-stock' uses broker scheme 'kafka'; batch agents need 'batchkafka://host:port' (the batch transport), e.g. batch_app(settings)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from streams.batching.base import BatchHandler
from streams.batching.budget import InflightBudget
from streams.batching.errors import BatchingError, HandlerFailure, NotBatchTransport
from streams.batching.metrics import BatchMetrics

if TYPE_CHECKING:
    from streams.batching.lanes import Lanes

__all__ = ["SCHEME", "BatchAgent", "BatchRuntime", "attach_batching", "batching_of"]

#: The URL scheme under which ``pyproject.toml`` registers the batch transport.
SCHEME = "batchkafka"
_ATTR = "forewarn_batching"


@dataclass(frozen=True, slots=True)
class BatchAgent:
    """A batch handler bound to the topic whose chunks it takes."""

    topic: str
    handler: BatchHandler
    name: str


class BatchRuntime:
    """Batch agents by topic, the worker's in-flight budget, metrics, and the first handler failure."""

    def __init__(self, app: Any, *, max_inflight_bytes: int, registry: CollectorRegistry,
                 revoke_timeout_s: float = 10.0, coalesce_records: int = 0):
        self.app = app
        #: A lane hands the chunks queued behind the one it just finished to its handler
        #: as one call, up to this many records (0: one call per fetched chunk).
        self.coalesce_records = coalesce_records
        self.agents: dict[str, BatchAgent] = {}
        self.budget = InflightBudget(max_inflight_bytes)
        self.metrics = BatchMetrics(registry)
        self.revoke_timeout_s = revoke_timeout_s
        self.failure: HandlerFailure | None = None
        self.lanes: Lanes | None = None

    def add(self, topic: str, handler: BatchHandler, name: str) -> BatchAgent:
        if topic in self.agents:
            raise BatchingError(
                f"topic {topic!r} already has batch agent {self.agents[topic].name}; "
                f"one batch agent per topic (call both functions from one handler)")
        agent = self.agents[topic] = BatchAgent(topic, handler, name)
        # Subscribing goes through Faust's conductor like any agent's topic, so the
        # group, the assignment and acks-enabled bookkeeping cover it; the batch
        # consumer intercepts its records before the conductor would see them.
        self.app.topics.add(self.app.topic(topic, key_type=bytes, value_type=bytes,
                                           key_serializer="raw", value_serializer="raw"))
        return agent

    @property
    def healthy(self) -> bool:
        return self.failure is None

    def health(self) -> dict[str, object]:
        """What a health endpoint reports: ok, and why not."""
        return {
            "ok": self.failure is None,
            "reason": None if self.failure is None else str(self.failure),
            "inflight_bytes": self.budget.in_flight,
            "batch_agents": sorted(a.name for a in self.agents.values()),
        }


def attach_batching(app: Any, *, max_inflight_bytes: int, registry: CollectorRegistry,
                    revoke_timeout_s: float = 10.0, coalesce_records: int = 0) -> BatchRuntime:
    """Give ``app`` a batch runtime; its broker URL must use the ``batchkafka://`` transport."""
    scheme = app.conf.broker[0].scheme
    if scheme != SCHEME:
        raise NotBatchTransport(
            f"app {app.conf.id!r} uses broker scheme {scheme!r}; batch agents need "
            f"'{SCHEME}://host:port' (the batch transport), e.g. batch_app(settings)")
    if batching_of(app) is not None:
        raise BatchingError(f"app {app.conf.id!r} already has a batch runtime")
    runtime = BatchRuntime(app, max_inflight_bytes=max_inflight_bytes, registry=registry,
                           revoke_timeout_s=revoke_timeout_s, coalesce_records=coalesce_records)
    setattr(app, _ATTR, runtime)
    return runtime


def batching_of(app: Any) -> BatchRuntime | None:
    # vars(), not getattr(): Faust's App resolves unknown attributes lazily
    return vars(app).get(_ATTR)
