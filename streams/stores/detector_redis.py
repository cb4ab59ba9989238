"""The detector engine's state store in Redis: two reads and one atomic script per chunk.

Implements :class:`detectors.store.Store` on a synchronous redis-py client (the
batch handler runs the engine in a worker thread, so blocking calls do not stall
the event loop). ``apply`` is one Lua script that writes states, wake-up times,
the partition record and the firings outbox together, and only if the
partition's applied offset is still the one that was loaded: a second owner of
the partition (a rebalance overlap) can never interleave its writes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from importlib.resources import files

import orjson

from detectors.state import AccountState, StateCodec
from detectors.store import Changes, Loaded, PartitionRecord, Store
from schemas.firing import Firing
from streams.errors import StreamsError
from streams.keys import PartitionKeys
from streams.outbox import Appended, OutboxRecord
from streams.stores.outbox_redis import RedisOutbox

__all__ = ["RedisDetectorStore", "StaleOwner", "detect_namespace", "firing_record"]

_APPLY = files("streams.stores").joinpath("detector_apply.lua").read_text()
_DUE = files("streams.stores").joinpath("detector_due.lua").read_text()


def detect_namespace(usage_events_topic: str) -> str:
    """The key namespace of the detect worker's state (rules and drop-off models) on one usage-events topic.

    >>> PartitionKeys(detect_namespace("usage-events"), 3).record
    'fw:{det:usage-events:3}:rec'
    """
    return f"det:{usage_events_topic}"


def firing_record(firing: Firing) -> OutboxRecord:
    """The outbox record that publishes ``firing`` to the firings topic, keyed by account."""
    return OutboxRecord("firings", firing.account_id.encode(), orjson.dumps(firing.to_json()))


class StaleOwner(StreamsError):
    """Another worker applied to this partition since this one loaded it (a rebalance overlap)."""


class RedisDetectorStore(Store, RedisOutbox):
    """:class:`detectors.store.Store` in Redis under one key namespace (e.g. ``det:usage-events``).

    >>> RedisDetectorStore.__mro__[1].__name__
    'Store'
    """

    def __init__(self, client, codec: StateCodec, namespace: str):
        self.client = client
        self.codec = codec
        self.namespace = namespace
        self._apply = client.register_script(_APPLY)
        self._due = client.register_script(_DUE)
        self._loaded_offset: dict[int, int] = {}
        self._loaded_seq: dict[int, int] = {}  # the record's write sequence as loaded (compared with the offset)

    def keys(self, partition: int) -> PartitionKeys:
        return PartitionKeys(self.namespace, partition)

    # -- Store ---------------------------------------------------------------------

    def load(self, partition: int, account_ids: Collection[str]) -> Loaded:
        keys = self.keys(partition)
        ids = list(account_ids)
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(keys.record, "watermark", "max_ts", "applied_offset", "seq")
        if ids:
            pipe.mget([keys.account(a) for a in ids])
        replies = pipe.execute()
        wm, max_ts, applied, seq = replies[0]
        record = PartitionRecord()
        if applied is not None:
            record = PartitionRecord(int(wm), int(max_ts), int(applied))
        self._loaded_offset[partition] = record.applied_offset
        self._loaded_seq[partition] = int(seq) if seq is not None else 0
        accounts: dict[str, AccountState] = {}
        if ids:
            decode = self.codec.decode
            for aid, blob in zip(ids, replies[1]):
                if blob is not None:
                    accounts[aid] = decode(blob)
        return Loaded(record, accounts)

    def load_due(self, partition: int, upto: int, skip: Collection[str]) -> dict[str, AccountState]:
        keys = self.keys(partition)
        flat = self._due(keys=[keys.wakes], args=[upto, keys.account_prefix])
        due: dict[str, AccountState] = {}
        decode = self.codec.decode
        for i in range(0, len(flat), 2):
            aid = flat[i].decode() if isinstance(flat[i], bytes) else flat[i]
            if aid not in skip:
                due[aid] = decode(flat[i + 1])
        return due

    def apply(self, partition: int, changes: Changes, outbox: Sequence[OutboxRecord] | None = None) -> Appended:
        """Store ``changes``; ``outbox`` (default: the changes' firings) is appended in the same step."""
        keys = self.keys(partition)
        if outbox is None:
            outbox = [firing_record(f) for f in changes.firings]
        expected = self._loaded_offset.get(partition, -1)
        rec = changes.record
        expected_seq = self._loaded_seq.get(partition, 0)
        args: list[object] = [
            expected, rec.watermark, rec.max_ts, rec.applied_offset, changes.ttl_us // 1000, keys.account_prefix,
            len(changes.put), len(changes.delete), len(changes.wakes), len(outbox), expected_seq,
        ]
        encode = self.codec.encode
        for aid, acct in changes.put.items():
            args += (aid, encode(acct))
        args += changes.delete
        for aid, wake in changes.wakes.items():
            args += (aid, "" if wake is None else wake)
        entries = [r.encode() for r in outbox]
        args += entries
        ok, *stored = self._apply(keys=[keys.record, keys.wakes, keys.outbox], args=args)
        if not ok:
            offset, seq = (int(v) for v in stored)
            raise StaleOwner(f"partition {partition} of {self.namespace}: applied offset and write sequence are "
                             f"{offset}/{seq} in Redis, {expected}/{expected_seq} when loaded; another worker owns "
                             "it now")
        self._loaded_offset[partition] = rec.applied_offset
        self._loaded_seq[partition] = int(stored[0])
        return Appended.of(outbox, int(stored[1]), entries)

    # -- outbox ----------------------------------------------------------------------


    # -- inspection -------------------------------------------------------------------

    def record(self, partition: int) -> PartitionRecord:
        return self.load(partition, ()).record

    def applied_offset(self, partition: int) -> int:
        """The partition's applied offset, read without touching what ``apply`` compares against."""
        value = self.client.hget(self.keys(partition).record, "applied_offset")
        return PartitionRecord().applied_offset if value is None else int(value)

    def encoded(self, partition: int, account_id: str) -> bytes | None:
        return self.client.get(self.keys(partition).account(account_id))

    def wakes(self, partition: int) -> dict[str, int]:
        pairs = self.client.zrange(self.keys(partition).wakes, 0, -1, withscores=True)
        return {(a.decode() if isinstance(a, bytes) else a): int(s) for a, s in pairs}
