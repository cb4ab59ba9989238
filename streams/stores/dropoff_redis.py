"""The online drop-off models' state in Redis: one partition's ``usage_drop`` detectors as one atomic unit.

Beside the rule state (``detector_redis``), under the same hash tag so one Lua
script can also append to the partition's outbox, each partition holds:

- ``drop:rec`` — the unit's own applied offset, and per trigger its signed model
  checkpoint (``detectors.online.checkpoint``: scorer, learned threshold,
  watermark, days closed; HMAC-signed, never unpickled unverified);
- ``drop:a:<trigger>`` — per account, its drop-off state as JSON (a few
  exponentially weighted statistics, scorer memory, episode, the open days):
  a safe format, parsed, never executed.

``apply`` writes the checkpoints, the changed accounts, the ``usage_drop``
firings (into the partition's outbox) and the applied offset in one script,
and only if the applied offset is still the one loaded: a redelivered chunk
changes nothing, a second owner (rebalance overlap) cannot interleave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files

from streams.keys import PartitionKeys
from streams.outbox import OutboxRecord
from streams.stores.detector_redis import StaleOwner

__all__ = ["RedisDropOffStore", "DropOffLoaded", "TriggerWrite"]

_APPLY = files("streams.stores").joinpath("dropoff_apply.lua").read_text()


@dataclass(slots=True)
class DropOffLoaded:
    """What Redis holds of one partition's drop-off unit: applied offset, checkpoints and accounts by trigger."""

    applied_offset: int = -1
    #: The record's write sequence (one more per write): compared with the offset, so an idle advance, which
    #: leaves the offset as it was, is refused too when another owner wrote in between.
    seq: int = 0
    checkpoints: dict[str, bytes] = field(default_factory=dict)
    accounts: dict[str, dict[str, bytes]] = field(default_factory=dict)


@dataclass(slots=True)
class TriggerWrite:
    """One trigger's part of an apply: its new checkpoint (None: unchanged), changed and retired accounts.

    ``replace`` rewrites the trigger's accounts whole (after a cold start: what was stored is dropped).
    """

    checkpoint: bytes | None
    put: Mapping[str, bytes]
    delete: Sequence[str] = ()
    replace: bool = False


class RedisDropOffStore:
    """The drop-off units of every partition under one namespace (the rule store's, e.g. ``det:usage-events``).

    >>> RedisDropOffStore.__name__
    'RedisDropOffStore'
    """

    def __init__(self, client, namespace: str, *, accounts_ttl_ms: int = 0):
        self.client = client
        self.namespace = namespace
        self.accounts_ttl_ms = accounts_ttl_ms
        self._apply = client.register_script(_APPLY)

    def keys(self, partition: int) -> PartitionKeys:
        return PartitionKeys(self.namespace, partition)

    def load(self, partition: int, triggers: Sequence[str]) -> DropOffLoaded:
        keys = self.keys(partition)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.drop_record)
        for t in triggers:
            pipe.hgetall(keys.drop_accounts(t))
        replies = pipe.execute()
        rec = replies[0]
        applied = rec.get(b"applied_offset")
        loaded = DropOffLoaded(-1 if applied is None else int(applied), int(rec.get(b"seq", 0)))
        for t, accounts in zip(triggers, replies[1:]):
            blob = rec.get(b"m:" + t.encode())
            if blob is not None:
                loaded.checkpoints[t] = blob
            loaded.accounts[t] = {k.decode("utf-8", "surrogatepass"): v for k, v in accounts.items()}
        return loaded

    def apply(self, partition: int, expected_offset: int, applied_offset: int, writes: Mapping[str, TriggerWrite],
              outbox: Sequence[OutboxRecord], expected_seq: int = 0) -> tuple[int, int]:
        """Store one step of the partition's drop-off unit; returns (bytes sent, the record's new write sequence).

        Raises :class:`StaleOwner` when the stored offset or sequence is not the one expected.
        """
        keys = self.keys(partition)
        triggers = list(writes)
        args: list[object] = [expected_offset, applied_offset, self.accounts_ttl_ms, len(triggers), len(outbox),
                              expected_seq]
        size = 0
        for t in triggers:
            w = writes[t]
            blob = w.checkpoint if w.checkpoint is not None else b""
            size += len(blob)
            args += [t, blob, "1" if w.replace else "0", len(w.put), len(w.delete)]
            for aid, data in w.put.items():
                args += (aid, data)
                size += len(data)
            args += w.delete
        args += [r.encode() for r in outbox]
        ok, *stored = self._apply(keys=[keys.drop_record, keys.outbox, *(keys.drop_accounts(t) for t in triggers)],
                                  args=args)
        if not ok:
            offset, seq = (int(v) for v in stored)
            raise StaleOwner(f"partition {partition} of {self.namespace}: the drop-off models' applied offset and "
                             f"write sequence are {offset}/{seq} in Redis, {expected_offset}/{expected_seq} when "
                             "loaded; another worker owns it now")
        return size, int(stored[0])

    def append_outbox(self, partition: int, outbox: Sequence[OutboxRecord]) -> None:
        """Append records to the partition's outbox alone (models without checkpoints have no state to store)."""
        if outbox:
            self.client.rpush(self.keys(partition).outbox, *(r.encode() for r in outbox))

    # -- inspection (tests, benchmarks) ---------------------------------------------------

    def applied_offset(self, partition: int) -> int:
        value = self.client.hget(self.keys(partition).drop_record, "applied_offset")
        return -1 if value is None else int(value)

    def checkpoint(self, partition: int, trigger: str) -> bytes | None:
        return self.client.hget(self.keys(partition).drop_record, f"m:{trigger}")

    def put_checkpoint(self, partition: int, trigger: str, blob: bytes) -> None:
        """Overwrite a checkpoint as is (tests of tampering; operators restoring a copy)."""
        self.client.hset(self.keys(partition).drop_record, f"m:{trigger}", blob)
