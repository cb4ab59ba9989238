"""The batch-aware Faust consumer: Faust's aiokafka consumer with a chunk-at-a-time drain loop.

Faust's own drain loop turns every fetched record into a message, a task and a
trip through the conductor and a queue — about 70 µs of Python per record,
whatever the agent does. This consumer keeps everything else of Faust (the
consumer thread, group membership, rebalances, the commit loop and its offset
bookkeeping) and replaces only the drain loop: records of topics that have a
batch agent go to that partition's lane one fetched chunk at a time, and the
lane acknowledges the chunk's offsets in one step into the same ``_acked``
bookkeeping that ``Consumer.ack`` fills one message at a time. Records of other
topics take Faust's per-message path unchanged, so ordinary agents keep working
in the same app.

Rebalance rules, in order of what Faust does:

1. revocation: lanes of revoked partitions stop taking chunks and drop the
   queued ones; the chunk in flight gets ``revoke_timeout_s`` to finish and
   acknowledge; then those acknowledgements are committed — before Faust forgets
   the revoked partitions' bookkeeping — and the lanes are closed;
2. records fetched for partitions no longer active, or in an older generation,
   or while the flow is stopped, are dropped (the owner re-reads them);
3. a lane never acknowledges a chunk fetched in another generation.

The installed Faust must match the pinned internals (``streams.batching.upstream``)
or the consumer refuses to start.

>>> import faust
>>> from prometheus_client import CollectorRegistry
>>> from streams.batching.runtime import attach_batching
>>> app = faust.App("doc-consumer", broker="batchkafka://127.0.0.1:9092")
>>> _ = attach_batching(app, max_inflight_bytes=1 << 20, registry=CollectorRegistry())
>>> consumer = app.consumer          # built by Faust from the URL; nothing connects yet
>>> type(consumer).__name__, consumer.ack_range(TP("usage-events", 0), 0, 4_999)
('BatchConsumer', 5000)
>>> consumer._new_offset(TP("usage-events", 0))   # what Faust's commit loop will commit
5000
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any, Iterable, Mapping, cast

from faust.transport.consumer import CONSUMER_FETCHING, ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ack_lock
from mode import Service, ServiceT
from mode.utils.futures import notify

from streams.batching.base import Chunk, chunk_bytes
from streams.batching.errors import HandlerFailure
from streams.batching.lanes import Lanes
from streams.batching.runtime import BatchRuntime, batching_of
from streams.batching.upstream import require_upstream

__all__ = ["BatchConsumer"]

#: After a handler failure Faust stops the worker; should its stop sequence hang (seen on a
#: loaded machine), the process exits anyway so supervisors restart it.
HARD_EXIT_AFTER_S = 30.0


def _exit_if_stuck(seconds: float) -> None:
    import os
    import threading

    timer = threading.Timer(seconds, os._exit, args=(1,))
    timer.daemon = True
    timer.start()


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka ``Consumer`` whose drain loop hands whole chunks to batch agents."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        require_upstream()
        super().__init__(*args, **kwargs)
        self._lanes: Lanes | None = None
        self._acked_high: dict[TP, int] = {}
        self._log_end: dict[TP, int] = {}
        #: partition -> first offset dropped unprocessed while the partition stayed
        #: ours; its next chunk must start there, or a hole would be applied past
        self._resume_from: dict[TP, int] = {}
        #: the crash a cancelled failure path handed to a task of its own (kept referenced)
        self._crashing: asyncio.Task | None = None

    # -- acknowledgement ------------------------------------------------------

    def ack_range(self, tp: TP, first: int, last: int) -> int:
        """Acknowledge offsets ``first..last`` of ``tp`` at once; returns how many were new.

        Does for a range what ``Consumer.ack`` does for one message: offsets below
        the committed one are ignored, repeats are ignored, and whoever waits
        for acknowledgements (``wait_empty``) is woken. The whole range counts,
        holes included: offsets missing inside a fetched chunk are transaction
        markers or compacted records, and committing past them is correct.
        """
        with ack_lock:
            committed = self._committed_offset[tp]
            if committed is not None and first < committed:
                first = committed
            if first > last:
                return 0
            offsets: Iterable[int] = range(first, last + 1)
            index = self._acked_index[tp]
            if index and not index.isdisjoint(offsets):
                offsets = [o for o in offsets if o not in index]
            index.update(offsets)
            self._acked[tp].extend(offsets)
            n = len(offsets)  # type: ignore[arg-type]
            self._n_acked += n
            if last > self._acked_high.get(tp, -1):
                self._acked_high[tp] = last
            notify(self._waiting_for_ack)
            return n

    def offset_view(self) -> dict[tuple[str, int], tuple[int | None, int | None, int | None]]:
        """(log end, committed, highest acknowledged) per partition, for the lag metrics."""
        tps = set(self._log_end) | set(self._acked_high)
        committed = dict(self._committed_offset)
        return {
            (tp.topic, tp.partition): (self._log_end.get(tp), committed.get(tp), self._acked_high.get(tp))
            for tp in tps
        }

    # -- lanes ----------------------------------------------------------------

    def _ensure_lanes(self, runtime: BatchRuntime) -> Lanes:
        if self._lanes is None:
            self._lanes = Lanes(
                ack=self.ack_range,
                generation=lambda: self.app.consumer_generation_id,
                budget=runtime.budget,
                metrics=runtime.metrics,
                on_failure=self._on_handler_failure,
                coalesce_records=runtime.coalesce_records,
            )
            runtime.metrics.offset_lag.view = self.offset_view
            runtime.lanes = self._lanes
        return self._lanes

    async def _on_handler_failure(self, failure: HandlerFailure) -> None:
        # A handler bug must take the worker down where health checks and
        # supervisors see it, never leave a half-alive agent behind.
        failure.__cause__ = failure.cause
        runtime = batching_of(self.app)
        if runtime is not None:
            runtime.failure = failure
        self.log.error("%s", failure, exc_info=failure.cause)
        # Armed first: this runs in the failed lane's task, which a revocation's timeout may cancel
        # during the commit below; the worker must go down all the same.
        _exit_if_stuck(HARD_EXIT_AFTER_S)
        try:
            # keep the other partitions' finished work: the failed lane acknowledged
            # nothing from its failing chunk on, so committing now is safe
            await asyncio.wait_for(self.commit(), timeout=10.0)
        except asyncio.CancelledError:
            self._crashing = asyncio.get_running_loop().create_task(self.app.crash(failure))
            raise
        except Exception as exc:
            self.log.warning("commit before stopping failed: %r", exc)
        await self.app.crash(failure)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Let revoked partitions' in-flight chunks finish and commit them, then let Faust revoke."""
        runtime = batching_of(self.app)
        if revoked:
            # Faust stops the flow only after this method's wait below; until then the
            # drain loop would keep fetching and hand a revoked partition's next chunk to
            # a fresh lane, which applies it after the queued chunks were dropped: a hole
            # in the state that no redelivery repairs. Faust resumes the flow once the
            # new assignment is seeked to the committed offsets.
            self.stop_flow()
        if self._lanes is not None and runtime is not None:
            revoked_tps = {ensure_TP(tp) for tp in revoked}
            # every revoked partition: also one whose lane a stop in progress is still closing
            late = await self._lanes.revoke(revoked_tps, runtime.revoke_timeout_s)
            if not self.app.should_stop:
                # Faust drops the revoked partitions' acknowledgements before its
                # own commit on revocation, so commit what the lanes finished now,
                # while this member still owns them (same generation).
                try:
                    committed = await self.commit(revoked_tps)
                except Exception as exc:  # the next owner re-reads; the state store skips
                    self.log.warning("commit of revoked partitions failed: %r", exc)
                else:
                    self.log.info("revoked %d partitions: lanes drained (%d cancelled), committed=%s",
                                  len(revoked_tps), len(late), committed)
            for tp in revoked_tps:
                self._acked_high.pop(tp, None)
                self._log_end.pop(tp, None)
                self._resume_from.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def on_stop(self) -> None:
        runtime = batching_of(self.app)
        if self._lanes is not None and runtime is not None:
            await self._lanes.stop(runtime.revoke_timeout_s)
        await super().on_stop()

    # -- the drain loop -------------------------------------------------------

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover - exercised end to end
        runtime = batching_of(self.app)
        if runtime is None or not runtime.agents:
            return await super()._drain_messages(fetcher)
        lanes = self._ensure_lanes(runtime)
        metrics = runtime.metrics
        budget = runtime.budget
        agent_for = runtime.agents.get
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        read_offset = self._read_offset
        monitor = self.app.monitor
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                waited_from = monotonic()
                records, active = await self._wait_next_records(1.0)
                metrics.fetch_wait_seconds.observe(monotonic() - waited_from)
                # getmany can return at once in a loop; let the loop breathe
                await self.sleep(0)
                if not records or self.should_stop:
                    unset_flag(CONSUMER_FETCHING)
                    continue
                generation = self.app.consumer_generation_id
                if not self.flow_active:
                    # fetched while a rebalance stopped the flow: positions may be
                    # stale, so go back to the committed offsets, as Faust does
                    self._drop(records, "flow_stopped")
                    try:
                        await self.perform_seek()
                    except Exception as exc:
                        self.log.warning("seek while flow stopped failed: %r", exc)
                    continue
                for raw_tp, recs in records.items():
                    tp = TP(raw_tp.topic, raw_tp.partition)
                    if not recs:
                        continue
                    if not self.flow_active or self.app.consumer_generation_id != generation:
                        self._drop({tp: recs}, "generation_changed", resume=True)
                        continue
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        self._drop({tp: recs}, "not_active", resume=True)
                        continue
                    end = self.highwater(tp)
                    monitor.track_tp_end_offset(tp, end)
                    if end is not None:
                        self._log_end[tp] = end
                    agent = agent_for(tp.topic)
                    if agent is None:
                        await self._deliver_per_message(tp, recs, generation)
                        continue
                    resume_from = self._resume_from.get(tp)
                    if resume_from is not None:
                        if recs[0].offset > resume_from:
                            # records were dropped since the last chunk and no seek
                            # has rewound the partition: rewind it, never skip ahead
                            self._drop({tp: recs}, "rewind")
                            await self.seek(tp, resume_from)
                            continue
                        del self._resume_from[tp]
                    r_offset = read_offset[tp]
                    if r_offset is not None and recs[0].offset < r_offset:
                        recs = [r for r in recs if r.offset >= r_offset]
                        if not recs:
                            continue
                    if r_offset and recs[0].offset - r_offset > 1 and self.app.topics.acks_enabled_for(tp.topic):
                        # only the missing offsets: Faust's own loop includes the next
                        # record, which duplicates its ack and stalls one commit
                        await self._add_gap(tp, r_offset + 1, recs[0].offset - 1)
                    nbytes = chunk_bytes(recs)
                    if not budget.fits(nbytes):
                        waited_from = monotonic()
                        await budget.acquire(nbytes)
                        metrics.backpressure_wait_seconds.observe(monotonic() - waited_from)
                    else:
                        await budget.acquire(nbytes)
                    # The awaits above (gap, budget) may have let a rebalance begin: check
                    # again with no await between the check and the submit.
                    if (not self.flow_active or self.app.consumer_generation_id != generation
                            or (active is not None and tp not in active)):
                        budget.release(nbytes)
                        self._drop({tp: recs}, "not_active", resume=True)
                        continue
                    metrics.inflight_bytes.set(budget.in_flight)
                    metrics.chunk_records.labels(topic=tp.topic).observe(len(recs))
                    metrics.chunk_bytes.labels(topic=tp.topic).observe(nbytes)
                    lanes.submit(Chunk(tp, recs, generation, nbytes), agent.handler, agent.name)
                    read_offset[tp] = recs[-1].offset
                    monitor.stream_inbound_time[tp] = monotonic()
                    monitor.tp_read_offsets[tp] = recs[-1].offset
                commit_every = self._commit_every
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)

    def _drop(self, records: Mapping[Any, list[Any]], reason: str, resume: bool = False) -> None:
        runtime = batching_of(self.app)
        for tp, recs in records.items():
            if runtime is not None:
                runtime.metrics.dropped.labels(topic=tp.topic, reason=reason).inc(len(recs))
            if resume and recs:
                tp = TP(tp.topic, tp.partition)
                if tp not in self._owned_now():
                    continue  # not ours now: a later owner starts from the committed offset
                first = recs[0].offset
                self._resume_from[tp] = min(first, self._resume_from.get(tp, first))

    def _owned_now(self) -> set[TP]:
        try:
            return self.assignment()
        except Exception:  # the client is not started: nothing is ours
            return set()

    async def _deliver_per_message(self, tp: TP, records: list[Any], generation: int) -> None:
        """Faust's own per-message path for topics without a batch agent (as in ``_drain_messages``)."""
        callback = self.callback
        read_offset = self._read_offset
        acks_enabled = self.app.topics.acks_enabled_for(tp.topic)
        since_yield = 0
        for record in records:
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            since_yield += 1
            if since_yield > 100:
                await asyncio.sleep(0)
                since_yield = 0
            offset = record.offset
            r_offset = read_offset[tp]
            if r_offset is None or offset >= r_offset:
                if r_offset and offset - r_offset > 1 and acks_enabled:
                    await self._add_gap(tp, r_offset + 1, offset)
                commit_every = self._commit_every
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                await self.wait_first(callback(self._to_message(tp, record)), self.suspend_flow.wait())
                read_offset[tp] = offset
