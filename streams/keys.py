"""Every Redis key Forewarn writes, built here and nowhere else, with its time-to-live beside it.

Keys of one Kafka partition share one hash tag ``{<namespace>:<partition>}``:
a chunk's state, wake-up times, partition record and outbox are written by one
Lua script, and Redis Cluster runs a script only on keys of one slot. Every
topic is keyed by account, so an account lives on one partition and its state
travels with that tag; the tags of different partitions spread over the
cluster's slots. (Tagging by account alone, as first planned, would make the
per-chunk atomic write impossible on a cluster.)

>>> k = PartitionKeys("det:usage-events", 3)
>>> k.record, k.account("acct-1")
('fw:{det:usage-events:3}:rec', 'fw:{det:usage-events:3}:a:acct-1')
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PartitionKeys", "DISPATCH_CLAIM_TTL_S", "claim_key"]

#: A dispatcher's claim on a command id outlives any redelivery of that command.
DISPATCH_CLAIM_TTL_S = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class PartitionKeys:
    """The keys of one partition of one state namespace (e.g. the detector on usage-events)."""

    namespace: str
    partition: int

    @property
    def tag(self) -> str:
        return f"{{{self.namespace}:{self.partition}}}"

    @property
    def record(self) -> str:
        """Hash: watermark, max_ts, applied_offset. No TTL: it is the partition's progress."""
        return f"fw:{self.tag}:rec"

    @property
    def wakes(self) -> str:
        """Sorted set: account → wake-up time (µs). No TTL; members leave when their state does."""
        return f"fw:{self.tag}:wakes"

    @property
    def outbox(self) -> str:
        """List of firings written with the state and not yet acknowledged by Kafka."""
        return f"fw:{self.tag}:outbox"

    @property
    def account_prefix(self) -> str:
        return f"fw:{self.tag}:a:"

    def account(self, account_id: str) -> str:
        """String: the account's encoded state; TTL = the engine's state time-to-live."""
        return self.account_prefix + account_id


def claim_key(command_id: str) -> str:
    """The dispatcher's claim on one command (TTL ``DISPATCH_CLAIM_TTL_S``)."""
    return f"fw:{{cmd:{command_id}}}:claim"
