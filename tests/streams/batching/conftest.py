"""Fixtures of the batch path's tests: worker processes that are always stopped, private Redis namespaces."""

from __future__ import annotations

import uuid

import pytest

from batch_harness import CountWorker


@pytest.fixture
def spawn_worker(settings, tmp_path):
    """Start count workers for one test; every one still running is stopped at the end."""
    started: list[CountWorker] = []

    def spawn(*args: str) -> CountWorker:
        worker = CountWorker(settings, *args, log_path=tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.stop()


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


