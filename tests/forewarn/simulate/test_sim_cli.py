"""``forewarn simulate`` and ``forewarn bench simulate`` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from forewarn.simulate import TRUTH_FILES


def _forewarn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forewarn.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_simulate_writes_events_truth_and_a_summary(tmp_path):
    out = tmp_path / "sim"
    done = _forewarn("simulate", "--accounts", "120", "--days", "20", "--seed", "7", "--out", str(out),
                     "--duplicates", "0.1", "--lift", "payment_failing=0.5")
    assert done.returncode == 0, done.stderr
    assert (out / "events.jsonl").stat().st_size > 0
    assert sorted(p.name for p in (out / "truth").iterdir()) == sorted(TRUTH_FILES)
    summary = orjson.loads((out / "truth" / "summary.json").read_bytes())
    assert summary["lifts"]["payment_failing"] == 0.5
    assert summary["noise"]["requested"]["duplicate_share"] == 0.1
    for text in ("feature.used", "expected firings: payment_failing", "churned accounts", "steady_power"):
        assert text in done.stdout
    lines = (out / "events.jsonl").read_bytes().count(b"\n")
    assert f"{lines:,}" in done.stdout + done.stderr


def test_simulate_feeds_back_a_command_file(tmp_path):
    commands = tmp_path / "commands.jsonl"
    commands.write_bytes(orjson.dumps({"command_id": "c1", "account_id": "acct-00001", "trigger": "payment_failing",
                                       "intervention": "payment_outreach", "decided_at": "2026-01-03T00:00:00Z"}))
    done = _forewarn("simulate", "--accounts", "30", "--days", "10", "--out", str(tmp_path / "sim"),
                     "--commands", str(commands))
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "sim" / "truth" / "treatments.jsonl").read_bytes().splitlines()
    assert [orjson.loads(r)["command_id"] for r in rows] == ["c1"]
    assert "interventions applied" in done.stdout


def test_simulate_refuses_bad_options_in_one_line(tmp_path):
    done = _forewarn("simulate", "--accounts", "10", "--days", "0", "--out", str(tmp_path / "x"))
    assert done.returncode == 1
    assert "days=0" in done.stderr and "Traceback" not in done.stderr
    done = _forewarn("simulate", "--out", str(tmp_path / "x"), "--lift", "payment_failing")
    assert done.returncode == 1 and "TRIGGER=PROBABILITY" in done.stderr


def test_bench_simulate_prints_the_generation_rate():
    done = _forewarn("bench", "simulate", "--accounts", "100", "--days", "10")
    assert done.returncode == 0, done.stderr
    assert "lines/s" in done.stdout and "200,000" in done.stdout and "CPU" in done.stdout
