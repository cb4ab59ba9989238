"""A worker waiting for its consumer group is alive: ``/healthz`` 200 and ``/readyz`` 503 until it is assigned.

A real ``forewarn worker`` joins a real group that a second member holds in a rebalance: that member
joined first, and when the worker's arrival asks it to give up its partitions it does not return from
its revocation, so the broker keeps the rebalance open (up to the member's rebalance timeout) and the
worker gets no assignment. Past the worker's stale limit (30 s) its liveness must still pass.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from forewarn.devinfra.workers import WorkerProcess
from streams.topics import ensure_topics

STALE_AFTER_S = 30.0  # install_worker_health's default, which the worker uses


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class GroupHolder:
    """A member of a consumer group that never finishes a rebalance, from its own thread and event loop.

    It joins first (so it holds every partition), then blocks in its revocation callback: the rebalance
    the next member starts waits for it until ``hold_s`` (its rebalance timeout; its session timeout too,
    so missing heartbeats do not end it sooner) or until it leaves on ``release()``. Like the worker's
    consumer (a Faust app without tables), it uses aiokafka's round-robin assignor: a group's members must
    share one.
    """

    def __init__(self, bootstrap: str, group: str, topic: str, hold_s: float = 240.0):
        self.bootstrap, self.group, self.topic, self.hold_s = bootstrap, group, topic, hold_s
        self.assigned = threading.Event()
        self.revoking = threading.Event()
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._leave: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="group-holder", daemon=True)

    def start(self, timeout: float = 60.0) -> GroupHolder:
        self._thread.start()
        if not self.assigned.wait(timeout) or self.error is not None:
            raise AssertionError(f"the holding member was not assigned {self.topic} in {timeout:.0f}s: {self.error!r}")
        return self

    def release(self) -> None:
        """Leave the group (the open rebalance then completes without this member)."""
        if self._thread.is_alive() and self._loop is not None and self._leave is not None:
            self._loop.call_soon_threadsafe(self._leave.set)
        self._thread.join(60)

    def _run(self) -> None:
        try:
            asyncio.run(self._hold())
        except Exception as exc:  # noqa: BLE001 - any failure is reported by start() or the test
            self.error = exc
            self.assigned.set()

    async def _hold(self) -> None:
        from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

        holder = self
        self._loop, self._leave = asyncio.get_running_loop(), asyncio.Event()

        class Stall(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked) -> None:
                if revoked:
                    holder.revoking.set()
                    await holder._leave.wait()  # aiokafka's stop() waits for this callback to return

            async def on_partitions_assigned(self, assigned) -> None:
                if assigned:
                    holder.assigned.set()

        hold_ms = int(self.hold_s * 1000)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group,
                                    enable_auto_commit=False,
                                    session_timeout_ms=hold_ms, heartbeat_interval_ms=10_000,
                                    rebalance_timeout_ms=hold_ms, max_poll_interval_ms=hold_ms + 60_000,
                                    request_timeout_ms=hold_ms + 30_000)
        await consumer.start()
        try:
            consumer.subscribe([self.topic], listener=Stall())
            await self._leave.wait()
        finally:
            await consumer.stop()


@pytest.mark.integration
def test_a_worker_waiting_for_its_group_is_live_but_not_ready(settings, worker_env, tmp_path):
    ensure_topics(settings)
    holder = GroupHolder(settings.kafka_bootstrap_servers, settings.app_id, settings.topics.usage_events).start()
    worker = WorkerProcess(["worker", "--loglevel", "warning"], worker_env, tmp_path / "worker.log")
    try:
        worker.start()
        base = f"http://127.0.0.1:{worker.web_port}"
        deadline = time.monotonic() + 90
        while True:  # the web server starts after the health state exists, before any assignment
            assert worker.alive(), f"worker exited with {worker.proc.returncode}; log {worker.log_path}"
            try:
                _get(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "the worker's web server never answered"
                time.sleep(0.2)
        assert holder.revoking.wait(60), "the worker never joined the group (no rebalance started)"

        # Every answer until well past the stale limit: alive, not ready, still waiting for partitions.
        until = time.monotonic() + STALE_AFTER_S + 10
        while time.monotonic() < until:
            status, live = _get(f"{base}/healthz")
            assert status == 200, f"/healthz failed while the worker waited for its group: {live}"
            status, ready = _get(f"{base}/readyz")
            assert status == 503 and not ready["checks"]["partitions"]["ok"], ready
            time.sleep(1.0)
        assert ready["checks"]["heartbeat"]["ok"] and live["checks"]["heartbeat"]["ok"]

        # Once the holding member leaves, the rebalance completes and the worker becomes ready.
        holder.release()
        deadline = time.monotonic() + 120
        while _get(f"{base}/readyz")[0] != 200:
            assert worker.alive() and time.monotonic() < deadline, f"worker never became ready; log {worker.log_path}"
            time.sleep(0.5)
        assert _get(f"{base}/healthz")[0] == 200
    finally:
        holder.release()
        assert worker.stop() == 0
    assert holder.error is None, holder.error
