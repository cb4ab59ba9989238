"""events.jsonl and truth/ change together or not at all: a failed, refused or killed run leaves the old pair."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from forewarn.simulate import CommandError, SimulationConfig, parse_command, simulate_to_dir

SMALL = dict(accounts=40, days=5)


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _forewarn(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "forewarn.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200", **(env or {})},
                            **kw)


def test_a_rerun_replaces_both_and_leaves_no_temporary_files(tmp_path):
    simulate_to_dir(SimulationConfig(seed=1, **SMALL), tmp_path)
    simulate_to_dir(SimulationConfig(seed=2, **SMALL), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "truth"]
    assert orjson.loads((tmp_path / "truth" / "summary.json").read_bytes())["seed"] == 2
    fresh = tmp_path / "fresh"
    simulate_to_dir(SimulationConfig(seed=2, **SMALL), fresh)
    assert _snapshot(fresh) == {k: v for k, v in _snapshot(tmp_path).items() if not k.startswith("fresh")}


def test_a_run_that_fails_halfway_leaves_the_previous_files_untouched(tmp_path):
    simulate_to_dir(SimulationConfig(seed=1, **SMALL), tmp_path)
    before = _snapshot(tmp_path)

    def fail_on_day_3(batch):
        if batch.day == 2:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        simulate_to_dir(SimulationConfig(seed=2, **SMALL), tmp_path, on_day=fail_on_day_3)
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "truth"]


def test_bad_commands_are_refused_before_the_events_file_is_touched(tmp_path):
    simulate_to_dir(SimulationConfig(seed=1, **SMALL), tmp_path)
    before = _snapshot(tmp_path)
    bad = tmp_path.parent / "bad.jsonl"
    bad.write_bytes(b'{"command_id": "c1"}\n')
    # No broker at this address: the commands have to be refused before Kafka is even asked.
    run = _forewarn("simulate", "--out", str(tmp_path), "--accounts", "40", "--days", "5", "--to-kafka",
                    "--commands", str(bad), env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    _, err = run.communicate(timeout=25)
    assert run.returncode == 1
    assert f"{bad}:1" in err and "missing account_id" in err and "Traceback" not in err
    assert _snapshot(tmp_path) == before


def test_a_terminated_rerun_leaves_the_old_pair_and_no_temporaries(tmp_path):
    simulate_to_dir(SimulationConfig(seed=1, **SMALL), tmp_path)
    before = _snapshot(tmp_path)
    run = _forewarn("simulate", "--out", str(tmp_path), "--accounts", "4000", "--days", "60", "--seed", "9")
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".simulate-*.tmp/events.jsonl")):  # the run is writing its events
        assert run.poll() is None and time.monotonic() < deadline, "the run wrote no staged events file"
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=30)
    assert run.returncode != 0 and "Traceback" not in err
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "truth"]


def test_a_command_time_outside_the_contract_years_is_refused():
    cmd = {"command_id": "c1", "account_id": "a", "trigger": "payment_failing", "intervention": "x"}
    for us in (10**18, -(10**17)):
        with pytest.raises(CommandError, match="outside the UTC years 1000-8999"):
            parse_command({**cmd, "decided_at": us})
    assert parse_command({**cmd, "decided_at": 1767571200000000}).decided_at == 1767571200000000
