"""The batch path: Faust consumes chunks, not messages, for the topics that carry volume.

Declare a batch agent on an app built with the ``batchkafka://`` transport::

    app = batch_app(settings)

    @batch_agent(app, settings.topics.usage_events)
    async def detect(partition: TP, records: list[RawRecord]) -> None:
        ...  # parse, run the engine, one Redis script call with the applied offset

See ``streams/batching/consumer.py`` for how the chunks, acknowledgements and
rebalances work, and ``counts.py`` for the applied-offset pattern in Redis.
"""

from streams.batching.agent import batch_agent
from streams.batching.app import batch_app, faust_options
from streams.batching.base import TP, BatchHandler, Chunk, PlainRecord, RawRecord
from streams.batching.errors import BatchingError, HandlerFailure, NotBatchTransport, UpstreamDrift
from streams.batching.runtime import BatchRuntime, attach_batching, batching_of

__all__ = [
    "TP",
    "RawRecord",
    "PlainRecord",
    "BatchHandler",
    "Chunk",
    "batch_agent",
    "batch_app",
    "faust_options",
    "attach_batching",
    "batching_of",
    "BatchRuntime",
    "BatchingError",
    "HandlerFailure",
    "NotBatchTransport",
    "UpstreamDrift",
]
