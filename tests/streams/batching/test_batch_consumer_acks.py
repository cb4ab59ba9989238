"""Bulk acknowledgements land in Faust's own offset bookkeeping and commit exactly as per-message acks would.

A real Faust app and consumer object on the batch transport, never started: the
bookkeeping is plain Python, so no broker is needed to check it.
"""

from __future__ import annotations

import asyncio

import faust
import pytest
from prometheus_client import CollectorRegistry

from streams.batching.base import TP
from streams.batching.consumer import BatchConsumer
from streams.batching.base import Chunk, PlainRecord
from streams.batching.runtime import attach_batching, batching_of

TOPIC = "usage-events"
P0 = TP(TOPIC, 0)


@pytest.fixture
def consumer():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = faust.App("acks-test", broker="batchkafka://127.0.0.1:9", loop=loop)
    attach_batching(app, max_inflight_bytes=1 << 20, registry=CollectorRegistry())
    yield app.consumer
    asyncio.set_event_loop(None)
    loop.close()


def test_the_transport_builds_the_batch_consumer(consumer):
    assert isinstance(consumer, BatchConsumer)
    assert type(consumer)._drain_messages is not BatchConsumer.__mro__[1]._drain_messages


def test_a_range_ack_commits_past_its_last_offset(consumer):
    assert consumer.ack_range(P0, 0, 9_999) == 10_000
    assert consumer._new_offset(P0) == 10_000
    assert consumer._n_acked == 10_000


def test_offsets_below_the_committed_one_and_repeats_are_ignored(consumer):
    consumer._committed_offset[P0] = 50
    assert consumer.ack_range(P0, 40, 59) == 10
    assert consumer.ack_range(P0, 55, 64) == 5
    assert consumer.ack_range(P0, 0, 49) == 0
    assert consumer._new_offset(P0) == 65


def test_an_unacknowledged_chunk_holds_the_commit_back(consumer):
    consumer.ack_range(P0, 0, 99)
    consumer.ack_range(P0, 200, 299)   # 100..199 still in a lane
    assert consumer._new_offset(P0) == 100
    consumer.ack_range(P0, 100, 199)
    assert consumer._new_offset(P0) == 300


def test_a_gap_between_chunks_does_not_block_the_commit(consumer):
    async def scenario():
        consumer.ack_range(P0, 0, 9)
        # offsets 10..14 are transaction markers: the drain loop records them as a gap
        await consumer._add_gap(P0, 10, 14)
        consumer.ack_range(P0, 15, 19)
        return consumer._new_offset(P0)

    assert asyncio.get_event_loop().run_until_complete(scenario()) == 20


def test_offset_view_reports_end_committed_and_acknowledged(consumer):
    consumer._committed_offset[P0] = 10
    consumer.ack_range(P0, 10, 41)
    consumer._log_end[P0] = 100
    assert consumer.offset_view() == {(TOPIC, 0): (100, 10, 41)}


def test_revocation_stops_the_flow_before_it_waits_for_the_chunk_in_flight(consumer, monkeypatch):
    """Faust stops the flow only after the lanes drained; until then the drain loop would hand
    the revoked partition's next fetch to a fresh lane, past the chunks the revocation dropped."""
    app = consumer.app
    flow_while_waiting: list[bool] = []

    async def nothing(*args, **kwargs):  # the commit and Faust's own revocation need a broker
        return True

    monkeypatch.setattr(consumer, "commit", nothing)
    monkeypatch.setattr(BatchConsumer.__mro__[1], "on_partitions_revoked", nothing)

    async def scenario():
        lanes = consumer._ensure_lanes(batching_of(app))
        gate, started = asyncio.Event(), asyncio.Event()

        async def slow(tp, records):
            started.set()
            await gate.wait()

        consumer.resume_flow()
        lanes.submit(Chunk(P0, [PlainRecord(0, b"k", b"v")], app.consumer_generation_id, 2), slow)
        await started.wait()
        revoking = asyncio.ensure_future(consumer.on_partitions_revoked({P0}))
        await asyncio.sleep(0.01)
        flow_while_waiting.append(consumer.flow_active)
        assert not revoking.done(), "revocation must wait for the chunk in flight"
        gate.set()
        await revoking

    asyncio.get_event_loop().run_until_complete(scenario())
    assert flow_while_waiting == [False]
