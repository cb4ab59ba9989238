"""Errors of the batch path, all under ``StreamsError`` (and so ``ForewarnError``)."""

from __future__ import annotations

from streams.batching.base import Chunk
from streams.errors import StreamsError

__all__ = ["BatchingError", "NotBatchTransport", "UpstreamDrift", "HandlerFailure"]


class BatchingError(StreamsError):
    """The batch path cannot run as configured."""


class NotBatchTransport(BatchingError):
    """A batch agent was declared on an app whose broker URL does not use the batch transport."""


class UpstreamDrift(BatchingError):
    """The installed Faust differs from the version whose consumer internals the batch path was built on."""


class HandlerFailure(BatchingError):
    """A batch handler raised; names the partition and the offsets that were not applied."""

    def __init__(self, handler_name: str, chunk: Chunk, cause: BaseException):
        self.handler_name = handler_name
        self.tp = chunk.tp
        self.first_offset = chunk.first_offset
        self.last_offset = chunk.last_offset
        self.cause = cause
        super().__init__(
            f"batch handler {handler_name} failed on {chunk.tp.topic}[{chunk.tp.partition}] "
            f"offsets {chunk.first_offset}..{chunk.last_offset} ({len(chunk)} records): "
            f"{type(cause).__name__}: {cause}. Nothing from offset {chunk.first_offset} on is acknowledged; "
            f"fix the handler and restart: the partition resumes from its last committed offset and the "
            f"state store skips what it already applied."
        )
