"""The state-store interface the engine runs on: load twice, compute in memory, apply once.

The same engine runs embedded (``forewarn backtest``, :class:`MemoryStore`)
and live (a Redis store in ``streams/``), where a worker processes one Kafka
partition's chunk of events at a time. Per chunk the engine calls, in order:

1. ``load(partition, account_ids)`` — **round trip 1**: the partition's
   :class:`PartitionRecord` (watermark, largest event time, applied offset)
   and the stored :class:`AccountState` of each listed account that has one
   (the accounts the chunk's events concern).
2. ``load_due(partition, upto, skip)`` — **round trip 2**: every account of
   this partition whose wake-up time is ``<= upto`` (the new watermark), with
   its state, except the accounts in ``skip`` (already loaded). This is how
   deadlines fire for accounts that send no more events.
3. ``apply(partition, changes)`` — **one atomic step** writing all of
   :class:`Changes`: account states to put (with a time-to-live) or delete,
   wake-up times to add, move or remove, and the new partition record
   (watermark, largest event time and the highest applied offset, so a
   redelivered chunk is recognised and skipped). Either all of it is visible
   afterwards or none of it.

Between 2 and 3 the engine runs purely in memory and touches no store.

What a store keeps, per partition and per account
-------------------------------------------------
- ``record(partition)`` → :class:`PartitionRecord` (a default one before the
  first apply).
- ``state(account)`` → account state. Accounts are keyed by account id alone
  (an account lives on one partition: every topic is keyed by account id);
  a Redis store hash-tags the key by account. Encode with
  ``StateCodec.encode`` (compact JSON, ~100–300 bytes) and decode with
  ``StateCodec.decode``, which also restores ``stored_wake``.
- ``wakes(partition)`` → account → wake-up time in epoch µs, one entry per
  account (a Redis sorted set: member = account id, score = µs; scores are
  below 2**53, exact as doubles). ``Changes.wakes`` maps an account to its new
  time, or to None to remove it.

States handed to ``apply`` may be the very objects ``load`` returned, mutated
in place; a store that keeps objects (the in-memory store in its fast mode)
must therefore not be shared with a failing engine run — a byte-encoding store
is transactional. Firings produced by a chunk are returned by the engine and
also listed in ``Changes.firings``, so a store may persist them in the same
atomic step (an outbox) if the runtime wants publish-after-commit.

``tests/detectors/store_contract.py`` holds the contract test every store runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass, field

from detectors.state import AccountState
from schemas.firing import Firing

__all__ = ["NO_TIME", "PartitionRecord", "Loaded", "Changes", "Store"]

#: The watermark and largest event time of a partition that has seen no event.
NO_TIME = -(1 << 62)


@dataclass(slots=True)
class PartitionRecord:
    """Event-time progress of one partition.

    ``watermark``: events with ``occurred_at`` below it are late. ``max_ts``:
    the largest event time applied. ``applied_offset``: the highest source
    offset whose effects are stored (-1: none).
    """

    watermark: int = NO_TIME
    max_ts: int = NO_TIME
    applied_offset: int = -1


@dataclass(slots=True)
class Loaded:
    """What round trip 1 returns: the partition record and the states that exist of the asked accounts."""

    record: PartitionRecord
    accounts: dict[str, AccountState]


@dataclass(slots=True)
class Changes:
    """Everything one chunk changes, written by ``Store.apply`` in one atomic step."""

    record: PartitionRecord
    put: dict[str, AccountState] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    wakes: dict[str, int | None] = field(default_factory=dict)
    ttl_us: int = 0
    firings: list[Firing] = field(default_factory=list)


class Store(ABC):
    """Where the engine keeps partition records, account states and wake-up times. See the module docstring."""

    @abstractmethod
    def load(self, partition: int, account_ids: Collection[str]) -> Loaded:
        """Round trip 1: the partition record and the stored states of ``account_ids``."""

    @abstractmethod
    def load_due(self, partition: int, upto: int, skip: Collection[str]) -> dict[str, AccountState]:
        """Round trip 2: accounts of ``partition`` with a wake-up time ``<= upto``, not in ``skip``, with states."""

    @abstractmethod
    def apply(self, partition: int, changes: Changes) -> None:
        """Write ``changes`` atomically: states, wake-up times and the partition record together."""
