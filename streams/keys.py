"""Every Redis key Forewarn writes, built here and nowhere else, with its time-to-live beside it.

``namespace`` separates deployments (and tests) sharing one Redis: the detector's
is ``det:<usage-events topic>``, the policy's ``pol:<trigger-firings topic>``, the
dispatcher's its consumer group's app id.

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
>>> k.drop_record, k.drop_accounts("usage_drop")
('fw:{det:usage-events:3}:drop:rec', 'fw:{det:usage-events:3}:drop:a:usage_drop')
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PartitionKeys", "DELIVERED", "CLAIMED_PREFIX", "claim_key", "owner_key"]

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

    # -- the online drop-off models (usage_drop triggers): their own atomic unit, same hash tag --

    @property
    def drop_record(self) -> str:
        """Hash: ``applied_offset`` of the drop-off unit, and ``m:<trigger>`` → the trigger's signed
        model checkpoint (detectors.online.checkpoint). No TTL: it is the partition's progress."""
        return f"fw:{self.tag}:drop:rec"

    def drop_accounts(self, trigger: str) -> str:
        """Hash: account id → the account's drop-off state (JSON: profile, scorer memory, episode, open
        days). TTL = the detector's retirement age, renewed by every write (every day close writes them all)."""
        return f"fw:{self.tag}:drop:a:{trigger}"


# -- the dispatcher: one key per command, tagged by account (each claim script touches one key) --

#: Value of a claim key once its command was delivered (TTL: ``delivered_ttl_s``).
DELIVERED = "delivered"
#: Prefix of a claim key's value while a dispatcher holds it: ``claimed:<owner id>`` (same TTL, so an
#: abandoned claim cannot outlive the commands topic).
CLAIMED_PREFIX = "claimed:"


def claim_key(namespace: str, account_id: str, command_id: str) -> str:
    """The state of one command: absent (free), ``claimed:<owner>`` or ``delivered``.

    >>> claim_key("forewarn", "acct-1", "c" * 32)
    'fw:dispatch:forewarn:{acct-1}:cccccccccccccccccccccccccccccccc'
    """
    return f"fw:dispatch:{namespace}:{{{account_id}}}:{command_id}"


def owner_key(namespace: str, owner: str) -> str:
    """Exists while the dispatcher ``owner`` is alive (TTL: ``owner_lease_s``, renewed by a heartbeat).

    >>> owner_key("forewarn", "host-1-4242-ab12")
    'fw:dispatch:forewarn:owner:host-1-4242-ab12'
    """
    return f"fw:dispatch:{namespace}:owner:{owner}"
