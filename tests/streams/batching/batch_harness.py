"""The batch path's integration-test harness: count-worker processes and Redis read-back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import orjson

from streams.batching.base import TP
from streams.batching.counts import AccountCountStore
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[3]


class CountWorker:
    """One ``python -m streams.batching.count_worker`` process; its stdout lines are collected as they come."""

    def __init__(self, settings: Settings, *args: str, log_path: Path, env: dict[str, str] | None = None):
        env = {**os.environ, **(env or {})}
        env["KAFKA_BOOTSTRAP_SERVERS"] = settings.kafka_bootstrap_servers
        env["REDIS_URL"] = settings.redis_url.get_secret_value()
        self.log_path = log_path
        self._stderr = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.batching.count_worker", *args, "--loglevel", "info"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self.lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                continue

    @property
    def pid(self) -> int:
        return self.proc.pid

    def records(self) -> int:
        progress = [line for line in self.lines if line.get("event") == "progress"]
        return progress[-1]["records"] if progress else 0

    def assignments(self) -> list[list[int]]:
        return [line["partitions"] for line in self.lines if line.get("event") == "assigned"]

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"worker {self.pid} exited ({self.proc.returncode}) waiting for {what}; "
                                     f"log: {self.log_tail()}")
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; log: {self.log_tail()}")

    def log_text(self) -> str:
        self._stderr.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._stderr.close()
        return self.proc.returncode


def redis_state(settings: Settings, namespace: str, topic: str, partitions: int) -> tuple[dict[str, int], dict[int, int | None]]:
    """(counts per account, applied offset per partition) as the workers left them in Redis."""
    import redis.asyncio as aioredis

    async def read():
        client = aioredis.from_url(settings.redis_url.get_secret_value())
        try:
            store = AccountCountStore(client, namespace)
            counts = await store.counts(topic, range(partitions))
            applied = {p: await store.applied_offset(TP(topic, p)) for p in range(partitions)}
            return counts, applied
        finally:
            await client.aclose()

    return asyncio.run(read())


def clear_redis(settings: Settings, namespace: str, topic: str, partitions: int) -> None:
    import redis.asyncio as aioredis

    async def clear():
        client = aioredis.from_url(settings.redis_url.get_secret_value())
        try:
            await AccountCountStore(client, namespace).clear(topic, range(partitions))
        finally:
            await client.aclose()

    asyncio.run(clear())


def wait_until_applied(settings: Settings, namespace: str, topic: str, ends: dict[int, int],
                       timeout: float, workers: list[CountWorker]) -> dict[int, int | None]:
    """Wait until every partition's applied offset reaches its last offset."""
    deadline = time.monotonic() + timeout
    applied: dict[int, int | None] = {}
    while time.monotonic() < deadline:
        _, applied = redis_state(settings, namespace, topic, len(ends))
        if all(applied[p] is not None and applied[p] >= ends[p] - 1 for p in ends if ends[p] > 0):
            return applied
        time.sleep(0.5)
    logs = "\n---\n".join(w.log_tail(15) for w in workers)
    raise AssertionError(f"not all applied after {timeout}s: applied={applied} ends={ends}\n{logs}")
