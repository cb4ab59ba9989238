"""What a dead-lettered usage event carries: the original bytes, and headers saying why and from where.

>>> dict(dlq_headers("late", "below the watermark", "usage-events", 3, 42))["source-offset"]
b'42'
"""

from __future__ import annotations

__all__ = ["dlq_headers"]


def dlq_headers(reason: str, detail: str, source_topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """Headers of a dead-lettered record: why, and where the original sat."""
    return [
        ("reason", reason.encode()),
        ("detail", detail.encode()[:512]),
        ("source-topic", source_topic.encode()),
        ("source-partition", str(partition).encode()),
        ("source-offset", str(offset).encode()),
    ]
