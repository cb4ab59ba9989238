"""The in-memory state store: backtests and tests, no Redis.

Two modes. Without a codec it keeps the engine's objects themselves (the
fast mode ``forewarn backtest`` uses: no encoding per chunk). With a codec it
keeps encoded bytes exactly as a Redis store would, so a chunk that fails
half-way leaves nothing behind and tests can check that state survives
encoding.

>>> store = MemoryStore()
>>> store.load(0, ["acct-1"]).record.applied_offset
-1
"""

from __future__ import annotations

import heapq
from collections.abc import Collection
from dataclasses import replace

from detectors.state import AccountState, StateCodec
from detectors.store import Changes, Loaded, PartitionRecord, Store

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """A :class:`Store` in process memory; pass ``codec`` to store encoded bytes instead of objects."""

    def __init__(self, codec: StateCodec | None = None) -> None:
        self.codec = codec
        self._records: dict[int, PartitionRecord] = {}
        self._accounts: dict[str, AccountState | bytes] = {}
        self._wakes: dict[int, dict[str, int]] = {}
        self._heaps: dict[int, list[tuple[int, str]]] = {}

    def _out(self, value: AccountState | bytes) -> AccountState:
        return self.codec.decode(value) if self.codec is not None else value  # type: ignore[return-value]

    def load(self, partition: int, account_ids: Collection[str]) -> Loaded:
        record = self._records.get(partition)
        accounts = {}
        stored = self._accounts
        for aid in account_ids:
            value = stored.get(aid)
            if value is not None:
                accounts[aid] = self._out(value)
        return Loaded(replace(record) if record is not None else PartitionRecord(), accounts)

    def load_due(self, partition: int, upto: int, skip: Collection[str]) -> dict[str, AccountState]:
        heap = self._heaps.get(partition)
        if not heap:
            return {}
        wakes = self._wakes[partition]
        valid: list[tuple[int, str]] = []
        while heap and heap[0][0] <= upto:
            wake, aid = heapq.heappop(heap)
            if wakes.get(aid) == wake:
                valid.append((wake, aid))
        # Reading must not consume: entries stay until apply moves or removes them.
        due: dict[str, AccountState] = {}
        for entry in valid:
            heapq.heappush(heap, entry)
            aid = entry[1]
            if aid not in skip and aid not in due:
                value = self._accounts.get(aid)
                if value is not None:
                    due[aid] = self._out(value)
        return due

    def apply(self, partition: int, changes: Changes) -> None:
        stored = self._accounts
        if self.codec is not None:
            encoded = {aid: self.codec.encode(acct) for aid, acct in changes.put.items()}
            stored.update(encoded)
        else:
            stored.update(changes.put)
            for acct in changes.put.values():
                acct.stored_wake = acct.wake
        for aid in changes.delete:
            stored.pop(aid, None)
        if changes.wakes:
            wakes = self._wakes.setdefault(partition, {})
            heap = self._heaps.setdefault(partition, [])
            for aid, wake in changes.wakes.items():
                if wake is None:
                    wakes.pop(aid, None)
                else:
                    wakes[aid] = wake
                    heapq.heappush(heap, (wake, aid))
        self._records[partition] = replace(changes.record)

    # -- inspection (tests, reports) ---------------------------------------------

    def account_ids(self) -> list[str]:
        """Every account with stored state."""
        return sorted(self._accounts)

    def wakes(self, partition: int) -> dict[str, int]:
        """The partition's wake-up times (account → µs)."""
        return dict(self._wakes.get(partition, {}))

    def encoded(self, account_id: str) -> bytes | None:
        """The stored bytes of an account (codec mode only)."""
        value = self._accounts.get(account_id)
        return value if isinstance(value, bytes) else None
