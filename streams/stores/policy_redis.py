"""The policy engine's state store in Redis: partition record + account blobs + outbox, one script.

Implements :class:`interventions.store.PolicyStore`. ``write`` is staged: the
runtime adds the chunk's decisions and commands as outbox records and commits
everything with ``commit`` in one Lua call that compares the partition record
with the one read (a second owner after a rebalance cannot interleave).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from importlib.resources import files

from interventions.state import (
    AccountPolicyState,
    PartitionPolicyState,
    decode_account,
    decode_partition,
    encode_account,
    encode_partition,
)
from interventions.store import PolicyStore
from streams.keys import PartitionKeys
from streams.outbox import Appended, OutboxRecord
from streams.stores.detector_redis import StaleOwner
from streams.stores.outbox_redis import RedisOutbox

__all__ = ["RedisPolicyStore"]

_APPLY = files("streams.stores").joinpath("policy_apply.lua").read_text()


class RedisPolicyStore(PolicyStore, RedisOutbox):
    """Policy state of one namespace (e.g. ``pol:trigger-firings``) in Redis; writes are staged.

    >>> RedisPolicyStore.__mro__[1].__name__
    'PolicyStore'
    """

    def __init__(self, client, namespace: str, ttl_ms: int):
        self.client = client
        self.namespace = namespace
        self.ttl_ms = ttl_ms
        self._apply = client.register_script(_APPLY)
        self._read: dict[int, bytes] = {}
        self._staged: dict[int, tuple[PartitionPolicyState, Mapping[str, AccountPolicyState | None]]] = {}

    def keys(self, partition: int) -> PartitionKeys:
        return PartitionKeys(self.namespace, partition)

    def read_partition(self, partition: int) -> PartitionPolicyState:
        blob = self.client.get(self.keys(partition).record)
        self._read[partition] = blob or b""
        return decode_partition(blob) if blob else PartitionPolicyState()

    def read_accounts(self, partition: int, accounts: Collection[str]) -> dict[str, AccountPolicyState]:
        ids = list(accounts)
        if not ids:
            return {}
        keys = self.keys(partition)
        blobs = self.client.mget([keys.account(a) for a in ids])
        return {a: decode_account(b) for a, b in zip(ids, blobs) if b is not None}

    def write(self, partition: int, state: PartitionPolicyState,
              accounts: Mapping[str, AccountPolicyState | None]) -> None:
        self._staged[partition] = (state, dict(accounts))

    def commit(self, partition: int, outbox: Sequence[OutboxRecord]) -> Appended:
        """Write what ``write`` staged, plus ``outbox``, in one atomic step."""
        state, accounts = self._staged.pop(partition)
        keys = self.keys(partition)
        puts: list[object] = []
        deletes: list[str] = []
        for account, st in accounts.items():
            if st is None or st.is_blank():
                deletes.append(account)
            else:
                puts += (account, encode_account(st))
        new_record = encode_partition(state)
        entries = [r.encode() for r in outbox]
        args: list[object] = [self._read.get(partition, b""), new_record, self.ttl_ms, keys.account_prefix,
                              len(puts) // 2, len(deletes), len(outbox), *puts, *deletes, *entries]
        ok, *length = self._apply(keys=[keys.record, keys.outbox], args=args)
        if not ok:
            raise StaleOwner(f"policy partition {partition} of {self.namespace} changed since it was read; "
                             f"another worker owns it now")
        self._read[partition] = new_record
        return Appended.of(outbox, int(length[0]), entries)
