"""Where the policy keeps its state: a small interface, and the in-memory store behind it.

The live runtime backs this with Redis (in ``streams/``), the embedded
runtime and the tests with :class:`InMemoryPolicyStore`. The engine touches a
store exactly three times per chunk of firings of one partition — read the
partition record, read the accounts it needs (one multi-get), write
everything back in one atomic step — so a Redis implementation costs two
round trips and one ``MULTI``/``EXEC`` (or Lua) call per chunk, and the
write can record the applied offset in the same step as the state.

>>> store = InMemoryPolicyStore()
>>> store.read_partition(0).watermark is None
True
>>> store.write(0, PartitionPolicyState(watermark=5), {"acct-1": AccountPolicyState(seen={"f": 5})})
>>> store.read_accounts(0, ["acct-1", "acct-2"])["acct-1"].seen
{'f': 5}
>>> store.reads, store.writes
(2, 1)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping

from interventions.state import (
    AccountPolicyState,
    PartitionPolicyState,
    decode_account,
    decode_partition,
    encode_account,
    encode_partition,
)

__all__ = ["PolicyStore", "InMemoryPolicyStore"]


class PolicyStore(ABC):
    """The policy's state store. ``write`` must be atomic: all of it or none of it."""

    @abstractmethod
    def read_partition(self, partition: int) -> PartitionPolicyState:
        """The partition's record (a fresh one if there is none)."""

    @abstractmethod
    def read_accounts(self, partition: int, accounts: Collection[str]) -> dict[str, AccountPolicyState]:
        """The states of those of the partition's accounts that have one (absent accounts are left out).

        The partition is named on every call, never remembered from ``read_partition``: one store
        serves the partitions a worker's handler threads decide at the same time.
        """

    @abstractmethod
    def write(self, partition: int, state: PartitionPolicyState,
              accounts: Mapping[str, AccountPolicyState | None]) -> None:
        """Store the partition record and the given accounts (None deletes one), atomically."""


class InMemoryPolicyStore(PolicyStore):
    """A dict of encoded blobs (encoding on every write keeps the codec honest); counts its calls."""

    def __init__(self) -> None:
        self._partitions: dict[int, bytes] = {}
        self._accounts: dict[str, bytes] = {}
        self.reads = 0
        self.writes = 0

    def read_partition(self, partition: int) -> PartitionPolicyState:
        self.reads += 1
        blob = self._partitions.get(partition)
        return decode_partition(blob) if blob is not None else PartitionPolicyState()

    def read_accounts(self, partition: int, accounts: Collection[str]) -> dict[str, AccountPolicyState]:
        self.reads += 1  # every partition's accounts share one dict here (an account lives in one partition)
        return {a: decode_account(self._accounts[a]) for a in accounts if a in self._accounts}

    def write(self, partition: int, state: PartitionPolicyState,
              accounts: Mapping[str, AccountPolicyState | None]) -> None:
        self.writes += 1
        encoded = {a: (encode_account(s) if s is not None and not s.is_blank() else None) for a, s in accounts.items()}
        self._partitions[partition] = encode_partition(state)
        for account, blob in encoded.items():
            if blob is None:
                self._accounts.pop(account, None)
            else:
                self._accounts[account] = blob

    def account_blob(self, account: str) -> bytes | None:
        """The stored bytes of one account (for size checks)."""
        return self._accounts.get(account)
