"""Claims against a real Redis: free, busy, in doubt, delivered, released; keys with their lifetimes."""

from __future__ import annotations

import uuid

import pytest
import redis

from streams.dispatcher.claims import Claimable, ClaimState, ClaimStore, Heartbeat
from streams.keys import claim_key, owner_key

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url):
    c = redis.from_url(redis_url)
    yield c
    c.close()


def _store(client, namespace: str, owner: str) -> ClaimStore:
    return ClaimStore(client, namespace, delivered_ttl_s=3600, owner_lease_s=5, owner=owner)


def test_claim_busy_delivered(client):
    ns = f"t-{uuid.uuid4().hex[:8]}"
    a, b = _store(client, ns, "a"), _store(client, ns, "b")
    beat = Heartbeat(a).start()
    try:
        cmds = [Claimable("acct-1", f"c{i}") for i in range(3)]
        assert set(a.claim_many(cmds).values()) == {ClaimState.CLAIMED}
        assert set(b.claim_many(cmds).values()) == {ClaimState.BUSY}  # a is alive
        a.mark_delivered(cmds[:2])
        assert b.claim_many(cmds) == {"c0": ClaimState.DELIVERED, "c1": ClaimState.DELIVERED, "c2": ClaimState.BUSY}
        assert 3500 < client.ttl(claim_key(ns, "acct-1", "c0")) <= 3600
        assert 0 < client.pttl(owner_key(ns, "a")) <= 5000
    finally:
        beat.stop()
    assert not client.exists(owner_key(ns, "a"))  # a clean stop gives up the lease at once


def test_a_dead_owners_claim_is_taken_over_once_as_in_doubt(client):
    ns = f"t-{uuid.uuid4().hex[:8]}"
    dead, b, c = _store(client, ns, "dead"), _store(client, ns, "b"), _store(client, ns, "c")
    cmd = Claimable("acct-2", "c9")
    assert dead.claim_many([cmd]) == {"c9": ClaimState.CLAIMED}  # no heartbeat: the owner is gone
    beat = Heartbeat(b).start()
    try:
        assert b.claim_many([cmd]) == {"c9": ClaimState.IN_DOUBT}
        assert b.state("acct-2", "c9") == "claimed:b"
        assert c.claim_many([cmd]) == {"c9": ClaimState.BUSY}  # taken over once, by b only
    finally:
        beat.stop()


def test_release_frees_only_our_own_claim(client):
    ns = f"t-{uuid.uuid4().hex[:8]}"
    a, b = _store(client, ns, "a"), _store(client, ns, "b")
    cmd = Claimable("acct-3", "c1")
    a.claim_many([cmd])
    b.release([cmd])  # not b's: nothing happens
    assert a.state("acct-3", "c1") == "claimed:a"
    a.release([cmd])
    assert a.state("acct-3", "c1") is None
    assert b.claim_many([cmd]) == {"c1": ClaimState.CLAIMED}
