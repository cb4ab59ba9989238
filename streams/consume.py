"""What a confluent-kafka ``consume()`` batch holds for a worker loop: the records, its errors sorted out.

>>> records_of([])
[]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaError, Message

from streams.errors import KafkaUnavailable

__all__ = ["records_of"]

log = logging.getLogger("forewarn.consume")


def records_of(msgs: Iterable[Message]) -> list[Message]:
    """The records of a consumed batch. A fatal consumer error raises :class:`KafkaUnavailable` (the worker
    stops); a partition's end is no error; any other error is logged (librdkafka retries it) and skipped."""
    records = []
    for m in msgs:
        err = m.error()
        if err is None:
            records.append(m)
        elif err.fatal():
            raise KafkaUnavailable(f"consumer failed: {err.str()}")
        elif err.code() != KafkaError._PARTITION_EOF:
            log.warning("consume error on %s: %s", m.topic(), err.str())
    return records
