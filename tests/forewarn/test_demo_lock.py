"""Two demos never share a state directory or an output directory; a lock left by a killed demo is stale."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from forewarn.demo import ClosedLoop, DemoOptions
from forewarn.demo.lock import DemoLock, DemoLocked
from forewarn.devinfra import DevInfraError
from forewarn.devinfra import stack as stack_module


@pytest.fixture
def local_stack(tmp_path, monkeypatch):
    """A demo that would start its own servers in tmp_path/state; starting them fails at once (no servers needed)."""
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "FOREWARN_KAFKA_BOOTSTRAP_SERVERS", "FOREWARN_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOREWARN_STATE_DIR", str(tmp_path / "state"))

    def no_kafka(data_dir, **kw):
        raise DevInfraError("past the locks")

    monkeypatch.setattr(stack_module, "start_kafka", no_kafka)
    return tmp_path / "state"


def _demo(out):
    return ClosedLoop(DemoOptions(accounts=5, days=1, out=out), note=lambda m: None)


def test_a_second_demo_on_the_same_state_dir_is_refused(tmp_path, local_stack):
    refused = rf"another forewarn demo \(pid {os.getpid()}\) is using the state directory"
    with DemoLock(local_stack / "demo.lock", "state directory"), pytest.raises(DemoLocked, match=refused):
        _demo(tmp_path / "other-out").run()
    with pytest.raises(DevInfraError, match="past the locks"):  # released: the next demo goes on
        _demo(tmp_path / "other-out").run()


def test_a_second_demo_on_the_same_out_dir_is_refused(tmp_path, monkeypatch, local_stack):
    out = tmp_path / "out"
    with DemoLock(out / ".demo.lock", "output directory"):
        monkeypatch.setenv("FOREWARN_STATE_DIR", str(tmp_path / "another-state"))
        with pytest.raises(DemoLocked, match=rf"\(pid {os.getpid()}\) is using the output directory"):
            _demo(out).run()
    assert not (out / ".demo.lock").exists()


def test_a_lock_left_by_a_killed_demo_is_taken_over(tmp_path, local_stack):
    """The file stays after SIGKILL, but its lock died with the process."""
    local_stack.mkdir(parents=True)
    code = ("import os, sys; from pathlib import Path; from forewarn.demo.lock import DemoLock; "
            "DemoLock(Path(sys.argv[1]), 'x').__enter__(); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code, str(local_stack / "demo.lock")])
    assert (local_stack / "demo.lock").exists()
    with pytest.raises(DevInfraError, match="past the locks"):
        _demo(tmp_path / "out").run()
