"""The policy's state: one compact blob per account, one small record per partition.

Per account the policy remembers what it must to decide the next firing the
same way in a replay: the firing ids it has decided (dedupe), the contacts it
allocated (cooldown, frequency cap, decision windows) and the firings it is
holding until their decision window closes. Per partition it keeps the
watermark (the largest ``fired_at`` seen), which accounts hold firings and
when they are due, and the highest Kafka offset applied, so a redelivered
chunk is recognised and skipped.

Both encode to JSON arrays of plain values, versioned by their first item;
``decode_*`` inverts ``encode_*`` exactly.

>>> st = AccountPolicyState()
>>> st.seen["f1"] = 10; st.allocations.append(Allocation(10, "payment_failing", 90))
>>> decode_account(encode_account(st)) == st
True
>>> p = PartitionPolicyState(watermark=10, due={"acct-1": 3_600_000_000}, applied_offset=41)
>>> decode_partition(encode_partition(p)) == p
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

__all__ = [
    "Allocation",
    "HeldFiring",
    "AccountPolicyState",
    "PartitionPolicyState",
    "encode_account",
    "decode_account",
    "encode_partition",
    "decode_partition",
]

_VERSION = 1


class Allocation(NamedTuple):
    """A contact slot the policy gave out (treated *or* control): when, for which trigger, at what priority."""

    at: int
    trigger: str
    priority: int


class HeldFiring(NamedTuple):
    """A firing waiting for its decision window to close; ``effective_at`` is after quiet hours."""

    firing_id: str
    trigger: str
    fired_at: int
    effective_at: int
    evidence: dict[str, Any]


@dataclass(slots=True)
class AccountPolicyState:
    """What the policy remembers of one account."""

    seen: dict[str, int] = field(default_factory=dict)  # firing id -> fired_at
    allocations: list[Allocation] = field(default_factory=list)  # sorted by time
    held: list[HeldFiring] = field(default_factory=list)

    def is_blank(self) -> bool:
        return not (self.seen or self.allocations or self.held)


@dataclass(slots=True)
class PartitionPolicyState:
    """What the policy remembers of one partition of the firings topic."""

    watermark: int | None = None
    due: dict[str, int] = field(default_factory=dict)  # account -> earliest watermark that releases a held firing
    applied_offset: int = -1


def encode_account(state: AccountPolicyState) -> bytes:
    return orjson.dumps([
        _VERSION,
        [[k, v] for k, v in state.seen.items()],
        [list(a) for a in state.allocations],
        [list(h) for h in state.held],
    ])


def decode_account(blob: bytes) -> AccountPolicyState:
    version, seen, allocations, held = orjson.loads(blob)
    if version != _VERSION:
        raise ValueError(f"account policy state version {version} is not {_VERSION}")
    return AccountPolicyState(
        seen={k: int(v) for k, v in seen},
        allocations=[Allocation(int(a), t, int(p)) for a, t, p in allocations],
        held=[HeldFiring(f, t, int(fa), int(ea), ev) for f, t, fa, ea, ev in held],
    )


def encode_partition(state: PartitionPolicyState) -> bytes:
    return orjson.dumps([_VERSION, state.watermark, state.applied_offset, state.due])


def decode_partition(blob: bytes) -> PartitionPolicyState:
    version, watermark, applied, due = orjson.loads(blob)
    if version != _VERSION:
        raise ValueError(f"partition policy state version {version} is not {_VERSION}")
    return PartitionPolicyState(watermark, {k: int(v) for k, v in due.items()}, int(applied))
