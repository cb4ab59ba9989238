"""Claims in Redis: which dispatcher is sending a command, and which commands were delivered.

The exactly-once argument
-------------------------
A command id moves through ``free → claimed:<owner> → delivered`` (or back
to free when delivery failed, so a replay from the DLQ can try again):

1. Before sending, the dispatcher claims the id (``SET NX``). An id already
   ``delivered`` is not sent again: its receipt is ``skipped_duplicate``. So a
   command redelivered by Kafka after a crash or a rebalance, or published
   twice by the policy, reaches its channel once.
2. An id claimed by *another live* dispatcher (its owner key still exists)
   is waited for — during a rebalance two processes can briefly hold the same
   partition — until it is delivered or its owner dies.
3. An id claimed by a *dead* owner is **in doubt**: the owner may have crashed
   before its send, during it, or after it but before recording
   ``delivered``. Nobody can know which from here, so the new owner takes the
   claim over atomically and sends again, with the same idempotency key (the
   command id) on every channel. A peer that honours the key sees one
   delivery; a peer that ignores it may see a second copy of that one
   command — only those in doubt at the moment of a crash (at most the
   dispatcher's in-flight sends), never a command recorded as delivered.
   ``forewarn_dispatcher_in_doubt_total`` counts them.
4. ``delivered`` is recorded right after the channel accepts (batched over
   the sends that complete together), and the Kafka offset is committed only
   after every receipt of the batch is acknowledged. A crash loses no
   command: uncommitted ones come back, and step 1 or 3 applies.

Owner liveness is a key with a short TTL (``owner_lease_s``) that a
heartbeat thread renews, so a SIGKILLed dispatcher's claims are in doubt
within one lease rather than after the claim's own long TTL.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from enum import Enum
from typing import NamedTuple

import redis

from streams.keys import CLAIMED_PREFIX, DELIVERED, claim_key, owner_key

__all__ = ["ClaimState", "ClaimStore", "Heartbeat"]

# Take a claim over only if it still holds the value we judged dead (no race with a third process).
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
# Give a claim back only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class ClaimState(Enum):
    CLAIMED = "claimed"  # free until now: ours to send
    IN_DOUBT = "in_doubt"  # its owner died mid-delivery: ours to resend with the same idempotency key
    DELIVERED = "delivered"  # already delivered: skip
    BUSY = "busy"  # another live dispatcher holds it: wait


class Claimable(NamedTuple):
    """A command id and the account whose hash tag its claim key carries (a tuple: built twice per command)."""

    account_id: str
    command_id: str


class ClaimStore:
    """Claim, confirm and release command ids for one dispatcher process (``owner``)."""

    def __init__(self, client: redis.Redis, namespace: str, *, delivered_ttl_s: int, owner_lease_s: float,
                 owner: str | None = None):
        self.client = client
        self.namespace = namespace
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.delivered_ttl_s = delivered_ttl_s
        self.owner_lease_s = owner_lease_s
        self._mine = CLAIMED_PREFIX + self.owner
        self._take_over = client.register_script(_TAKE_OVER)
        self._release = client.register_script(_RELEASE)

    def _key(self, c: Claimable) -> str:
        return claim_key(self.namespace, c.account_id, c.command_id)

    def claim_many(self, commands: Sequence[Claimable]) -> dict[str, ClaimState]:
        """Claim every command: three round trips at most for the whole batch, whatever its size."""
        if not commands:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for c in commands:
            # execute_command: redis-py's set() spends more CPU checking its arguments than on the command.
            pipe.execute_command("SET", self._key(c), self._mine, "NX", "EX", self.delivered_ttl_s)
        got = pipe.execute()
        states: dict[str, ClaimState] = {}
        contested = [c for c, ok in zip(commands, got) if not ok]
        for c, ok in zip(commands, got):
            if ok:
                states[c.command_id] = ClaimState.CLAIMED
        if not contested:
            return states
        pipe = self.client.pipeline(transaction=False)
        for c in contested:
            pipe.get(self._key(c))
        values = [v.decode() if isinstance(v, bytes) else v for v in pipe.execute()]
        owners = {v[len(CLAIMED_PREFIX):] for v in values if v and v.startswith(CLAIMED_PREFIX)} - {self.owner}
        alive = self._alive(sorted(owners))
        for c, value in zip(contested, values):
            if value == DELIVERED:
                states[c.command_id] = ClaimState.DELIVERED
            elif value is None:
                # Freed between our SET and GET (its holder failed and released it): claim it again.
                states[c.command_id] = self.claim_many([c])[c.command_id]
            elif value == self._mine:
                # Ours from an earlier attempt of this process that never recorded an outcome.
                states[c.command_id] = ClaimState.IN_DOUBT
            elif value[len(CLAIMED_PREFIX):] in alive:
                states[c.command_id] = ClaimState.BUSY
            elif self._take_over(keys=[self._key(c)], args=[value, self._mine, self.delivered_ttl_s]):
                states[c.command_id] = ClaimState.IN_DOUBT
            else:
                states[c.command_id] = self.claim_many([c])[c.command_id]  # changed under us: look again
        return states

    def _alive(self, owners: Sequence[str]) -> set[str]:
        if not owners:
            return set()
        pipe = self.client.pipeline(transaction=False)
        for o in owners:
            pipe.exists(owner_key(self.namespace, o))
        return {o for o, n in zip(owners, pipe.execute()) if n}

    def mark_delivered(self, commands: Sequence[Claimable]) -> None:
        """Record deliveries in one round trip."""
        if not commands:
            return
        pipe = self.client.pipeline(transaction=False)
        for c in commands:
            pipe.execute_command("SET", self._key(c), DELIVERED, "EX", self.delivered_ttl_s)
        pipe.execute()

    def release(self, commands: Sequence[Claimable]) -> None:
        """Free our claims of commands that were not delivered (failed, expired), so a replay may try again."""
        if not commands:
            return
        pipe = self.client.pipeline(transaction=False)
        for c in commands:
            self._release(keys=[self._key(c)], args=[self._mine], client=pipe)
        pipe.execute()

    def state(self, account_id: str, command_id: str) -> str | None:
        """The raw state of one command id (for tests and operators)."""
        value = self.client.get(claim_key(self.namespace, account_id, command_id))
        return value.decode() if isinstance(value, bytes) else value


class Heartbeat:
    """Keeps this dispatcher's owner key alive on a thread of its own; ``stop`` deletes it (a clean exit)."""

    def __init__(self, claims: ClaimStore):
        self._claims = claims
        self._key = owner_key(claims.namespace, claims.owner)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dispatcher-heartbeat", daemon=True)

    def _beat(self) -> None:
        self._claims.client.set(self._key, str(time.time()), px=int(self._claims.owner_lease_s * 1000))

    def _run(self) -> None:
        period = self._claims.owner_lease_s / 3
        while not self._stop.wait(period):
            try:
                self._beat()
            except redis.RedisError:
                pass  # the next beat retries; the main loop fails loudly on its own Redis calls

    def start(self) -> "Heartbeat":
        self._beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self._claims.client.delete(self._key)
        except redis.RedisError:
            pass
