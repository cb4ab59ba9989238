"""The Lua count applier: a chunk and the partition's applied offset move together; redeliveries are skipped."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from streams.batching.base import TP, PlainRecord
from streams.batching.counts import AccountCountStore, applied_key, count_accounts, counts_key

T = TP("usage-events", 3)


def records(first: int, last: int) -> list[PlainRecord]:
    return [PlainRecord(o, b"k", b'{"account_id":"acct-%d"}' % (o % 4)) for o in range(first, last + 1)]


def expected(first: int, last: int) -> dict[str, int]:
    counts, _ = count_accounts(records(first, last))
    return counts


def test_count_accounts_counts_valid_values_and_the_rest_as_invalid():
    recs = [PlainRecord(0, b"a", b'{"account_id":"a"}'), PlainRecord(1, b"a", b"{"),
            PlainRecord(2, b"a", b'{"account_id":7}'), PlainRecord(3, b"a", None),
            PlainRecord(4, b"a", b"[1]"), PlainRecord(5, b"b", b'{"account_id":"b"}')]
    assert count_accounts(recs) == ({"a": 1, "b": 1}, 4)


def test_both_keys_of_a_partition_share_one_cluster_slot():
    assert key_slot(counts_key("ns", T).encode()) == key_slot(applied_key("ns", T).encode())


@pytest.mark.integration
def test_apply_skip_and_straddling_redelivery(redis_url):
    async def scenario():
        client = aioredis.from_url(redis_url)
        store = AccountCountStore(client, f"test-{uuid.uuid4().hex[:8]}", ttl_s=600)
        try:
            first = await store.apply(T, records(0, 99))
            again = await store.apply(T, records(0, 99))          # a redelivery after a crash
            straddle = await store.apply(T, records(50, 149))     # redelivered with different chunk edges
            counts = await store.counts(T.topic, [T.partition])
            applied = await store.applied_offset(T)
            ttl = await client.ttl(counts_key(store.namespace, T))
            await store.clear(T.topic, [T.partition])
            return first, again, straddle, counts, applied, ttl
        finally:
            await client.aclose()

    first, again, straddle, counts, applied, ttl = asyncio.run(scenario())
    assert (first.applied, first.skipped, first.applied_offset) == (100, 0, 99)
    assert (again.applied, again.skipped) == (0, 100)
    assert (straddle.applied, straddle.skipped, straddle.applied_offset) == (50, 50, 149)
    assert counts == expected(0, 149)
    assert applied == 149
    assert 0 < ttl <= 600


@pytest.mark.integration
def test_concurrent_owners_of_one_partition_count_each_offset_once(redis_url):
    """A revoked worker's late call and the new owner's calls interleave; each offset still counts once."""

    async def scenario():
        client_a, client_b = aioredis.from_url(redis_url), aioredis.from_url(redis_url)
        namespace = f"test-{uuid.uuid4().hex[:8]}"
        a, b = AccountCountStore(client_a, namespace), AccountCountStore(client_b, namespace)
        try:
            chunks_a = [records(o, o + 99) for o in range(0, 1000, 100)]
            chunks_b = [records(o, o + 149) for o in range(0, 1050, 150)]

            async def run(store, chunks):
                for c in chunks:
                    await store.apply(T, c)

            await asyncio.gather(run(a, chunks_a), run(b, chunks_b))
            counts = await a.counts(T.topic, [T.partition])
            await a.clear(T.topic, [T.partition])
            return counts
        finally:
            await client_a.aclose()
            await client_b.aclose()

    assert asyncio.run(scenario()) == expected(0, 1049)
