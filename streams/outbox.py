"""Records that must reach Kafka because state changed: written to Redis with the state, then published.

A chunk's firings and dead-letters are appended to the partition's outbox in the
same atomic script that stores its state and applied offset. They are published
afterwards and trimmed once Kafka acknowledged them. A crash in between leaves
them in the outbox, and the next owner of the partition publishes them before
anything else: nothing is lost, and what is published twice carries the same
deterministic id (firings) or the same source offset (dead letters).

>>> rec = OutboxRecord("dlq", b"acct-1", b"\\xff not json", (("reason", b"invalid_json"),))
>>> OutboxRecord.decode(rec.encode()) == rec
True
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

__all__ = ["OutboxRecord"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One record to publish. ``role`` names the topic by its role: ``firings`` or ``dlq``."""

    role: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    def encode(self) -> bytes:
        return orjson.dumps({
            "r": self.role,
            "k": None if self.key is None else _b64(self.key),
            "v": _b64(self.value),
            "h": [[n, _b64(v)] for n, v in self.headers],
        })

    @classmethod
    def decode(cls, raw: bytes) -> "OutboxRecord":
        obj = orjson.loads(raw)
        key = obj["k"]
        return cls(
            obj["r"],
            None if key is None else base64.b64decode(key),
            base64.b64decode(obj["v"]),
            tuple((n, base64.b64decode(v)) for n, v in obj["h"]),
        )
