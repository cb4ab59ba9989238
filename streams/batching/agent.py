"""``@batch_agent(app, topic)``: declare a handler that takes one partition's fetched chunk at a time.

The handler is ``async def handle(partition: TP, records: list[RawRecord]) -> None``.
It returns once the chunk's effects are durable (for state, one Redis script
call that also records the partition's applied offset); then the chunk's
offsets are acknowledged together. It may be called again with records it
already saw (after a crash or a rebalance): delivery is at least once, and the
state store's applied offset turns that into exactly-once effects.

Ordinary ``@app.agent`` agents on other topics keep working in the same app.

>>> import faust
>>> from prometheus_client import CollectorRegistry
>>> from streams.batching.runtime import attach_batching
>>> app = faust.App("doc-agent", broker="batchkafka://127.0.0.1:9092")
>>> _ = attach_batching(app, max_inflight_bytes=8 << 20, registry=CollectorRegistry())
>>> @batch_agent(app, "usage-events")
... async def count(partition, records):
...     pass
>>> batching_of(app).agents["usage-events"].name
'count'
"""

from __future__ import annotations

from typing import Any, Callable

from streams.batching.base import BatchHandler
from streams.batching.errors import BatchingError
from streams.batching.runtime import batching_of

__all__ = ["batch_agent"]


def batch_agent(app: Any, topic: str, *, name: str | None = None) -> Callable[[BatchHandler], BatchHandler]:
    """Register the decorated coroutine function as the batch agent of ``topic`` in ``app``."""
    runtime = batching_of(app)
    if runtime is None:
        raise BatchingError(
            f"app {app.conf.id!r} has no batch runtime; build it with batch_app(settings) "
            f"or call attach_batching(app, ...) before declaring batch agents")

    def register(handler: BatchHandler) -> BatchHandler:
        runtime.add(topic, handler, name or getattr(handler, "__qualname__", repr(handler)))
        return handler

    return register
