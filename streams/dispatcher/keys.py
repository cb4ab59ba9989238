"""The dispatcher's Redis keys, with their lifetimes beside them.

Claim keys carry the account as hash tag, like every per-account key of
Forewarn, so they spread over a Redis Cluster; each claim script touches one
key. ``namespace`` is the app id, so two deployments (or two tests) sharing a
Redis never see each other's claims.

>>> claim_key("forewarn", "acct-1", "c" * 32)
'fw:dispatch:forewarn:{acct-1}:cccccccccccccccccccccccccccccccc'
>>> owner_key("forewarn", "host-1-4242-ab12")
'fw:dispatch:forewarn:owner:host-1-4242-ab12'
"""

from __future__ import annotations

__all__ = ["DELIVERED", "CLAIMED_PREFIX", "claim_key", "owner_key"]

#: Value of a claim key once its command was delivered (TTL: ``delivered_ttl_s``).
DELIVERED = "delivered"
#: Prefix of a claim key's value while a dispatcher holds it: ``claimed:<owner id>`` (same TTL, so an abandoned
#: claim cannot outlive the commands topic).
CLAIMED_PREFIX = "claimed:"


def claim_key(namespace: str, account_id: str, command_id: str) -> str:
    """The state of one command: absent (free), ``claimed:<owner>`` or ``delivered``."""
    return f"fw:dispatch:{namespace}:{{{account_id}}}:{command_id}"


def owner_key(namespace: str, owner: str) -> str:
    """Exists while the dispatcher ``owner`` is alive (TTL: ``owner_lease_s``, renewed by a heartbeat)."""
    return f"fw:dispatch:{namespace}:owner:{owner}"
