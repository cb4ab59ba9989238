"""Per-account event counts in Redis with exactly-once effects: the applied-offset pattern.

Each chunk is applied in one Lua script call that also moves the partition's
applied offset; offsets at or below it are skipped. Delivery is at least once
(a crash or rebalance re-delivers everything after the last commit), and this
check makes the state after a redelivery equal the state without one. The
detector store follows the same pattern; this store is its smallest instance,
used by the batch path's tests and ``forewarn bench consumer``.

Both keys of a partition share one hash tag, so the script touches a single
Redis Cluster slot. Counting happens in Python first (one dict per chunk), so a
chunk costs one round trip whatever its size.

>>> from streams.batching.base import PlainRecord
>>> count_accounts([PlainRecord(0, b"a1", b'{"account_id":"a1"}'), PlainRecord(1, b"a1", b"not json"),
...                 PlainRecord(2, b"a2", b'{"account_id":"a2"}'), PlainRecord(3, b"a1", b'{"account_id":"a1"}')])
({'a1': 2, 'a2': 1}, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Sequence

import orjson

from streams.batching.base import TP

__all__ = ["AppliedChunk", "AccountCountStore", "count_accounts", "counts_key", "applied_key"]

_SCRIPT = files("streams.batching").joinpath("apply_counts.lua").read_text()


def count_accounts(records: Sequence[Any]) -> tuple[dict[str, int], int]:
    """Events per ``account_id`` in ``records``, and how many values were not usage-event JSON."""
    counts: dict[str, int] = {}
    invalid = 0
    loads = orjson.loads
    for record in records:
        try:
            account = loads(record.value)["account_id"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            invalid += 1
            continue
        if type(account) is not str:
            invalid += 1
            continue
        counts[account] = counts.get(account, 0) + 1
    return counts, invalid


def counts_key(namespace: str, tp: TP) -> str:
    return f"fw:{{{namespace}:{tp.topic}:{tp.partition}}}:account-counts"


def applied_key(namespace: str, tp: TP) -> str:
    return f"fw:{{{namespace}:{tp.topic}:{tp.partition}}}:applied-offset"


@dataclass(frozen=True, slots=True)
class AppliedChunk:
    """What one ``apply`` did: records newly counted, records skipped as already applied, invalid values."""

    applied: int
    skipped: int
    invalid: int
    applied_offset: int


class AccountCountStore:
    """Per-partition hashes of account -> event count, advanced one chunk per script call.

    ``redis`` is a ``redis.asyncio.Redis``; ``namespace`` separates apps and tests;
    ``ttl_s`` (0 = none) lets abandoned benchmark and test state expire.
    """

    _PARTIAL = -1

    def __init__(self, redis: Any, namespace: str, ttl_s: int = 0):
        self.redis = redis
        self.namespace = namespace
        self.ttl_s = ttl_s
        self._script = redis.register_script(_SCRIPT)

    async def apply(self, tp: TP, records: Sequence[Any]) -> AppliedChunk:
        """Count ``records`` (one partition's chunk, in offset order) unless already applied."""
        if not records:
            raise ValueError("apply() needs at least one record")
        keys = [counts_key(self.namespace, tp), applied_key(self.namespace, tp)]
        total = len(records)
        while True:
            counts, invalid = count_accounts(records)
            args: list[Any] = [records[0].offset, records[-1].offset, self.ttl_s]
            for account, n in counts.items():
                args.append(account)
                args.append(n)
            status, applied_offset = await self._script(keys=keys, args=args)
            if status == 1:
                return AppliedChunk(len(records), total - len(records), invalid, int(applied_offset))
            if status == 0:
                return AppliedChunk(0, total, 0, int(applied_offset))
            # a redelivery that straddles the applied offset: keep only what is new
            records = [r for r in records if r.offset > int(applied_offset)]

    async def applied_offset(self, tp: TP) -> int | None:
        raw = await self.redis.get(applied_key(self.namespace, tp))
        return None if raw is None else int(raw)

    async def counts(self, topic: str, partitions: range | Sequence[int]) -> dict[str, int]:
        """All accounts' counts over ``partitions`` of ``topic``."""
        total: dict[str, int] = {}
        for p in partitions:
            for account, n in (await self.redis.hgetall(counts_key(self.namespace, TP(topic, p)))).items():
                key = account.decode() if isinstance(account, bytes) else account
                total[key] = total.get(key, 0) + int(n)
        return total

    async def clear(self, topic: str, partitions: range | Sequence[int]) -> None:
        keys = []
        for p in partitions:
            keys += [counts_key(self.namespace, TP(topic, p)), applied_key(self.namespace, TP(topic, p))]
        if keys:
            await self.redis.delete(*keys)
