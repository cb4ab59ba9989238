"""Mistakes on the simulate and evaluate command lines end in one line and exit code 1, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from forewarn.evaluate.errors import EvaluationError
from forewarn.evaluate.truth import read_truth


def _forewarn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forewarn.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})


def _refused(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("error:"), done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_simulate_out_that_cannot_be_a_directory(tmp_path):
    a_file = tmp_path / "afile"
    a_file.write_bytes(b"keep me")
    _refused(_forewarn("simulate", "--out", str(a_file), "--accounts", "5", "--days", "1"), "not a directory")
    _refused(_forewarn("simulate", "--out", str(a_file / "sub"), "--accounts", "5", "--days", "1"),
             "cannot write the simulation there")
    _refused(_forewarn("simulate", "--out", "/proc/forewarn-sim", "--accounts", "5", "--days", "1"),
             "cannot write the simulation there")
    assert a_file.read_bytes() == b"keep me"


@pytest.mark.parametrize("start", ["0001-01-01", "9999-12-30"])
def test_simulate_start_outside_the_contract_years(tmp_path, start):
    _refused(_forewarn("simulate", "--out", str(tmp_path / "x"), "--accounts", "5", "--days", "1",
                       "--start", start), start, "1000-8999")
    assert not (tmp_path / "x").exists()


def test_evaluate_refuses_an_unwritable_output_before_evaluating(tmp_path):
    sim = tmp_path / "sim"
    assert _forewarn("simulate", "--out", str(sim), "--accounts", "30", "--days", "5").returncode == 0
    done = _forewarn("evaluate", "drop-off", "--truth", str(sim), "--json", str(tmp_path / "nowhere" / "x.json"))
    _refused(done, "--json", "nowhere")
    assert "events" not in done.stdout  # refused before reading the events
    _refused(_forewarn("evaluate", "drop-off", "--truth", str(sim), "--firings", str(tmp_path)), "--firings",
             "is a directory")


@pytest.mark.parametrize("line, words", [
    (b"[1, 2]", "JSON object"),
    (b'"acct-1"', "JSON object"),
    (b'{"account_id": 5}', "account_id"),
    (b'{"account_id": "a", "persona": 3}', "persona"),
    (b'{"account_id": "a", "decline_started": 5}', "decline_started"),
    (b'{"account_id": "a", "churned_at": ["2026-01-01T00:00:00Z"]}', "churned_at"),
    (b'{"account_id": "a", "onboarded_at": "soon"}', "onboarded_at"),
])
def test_read_truth_names_the_line_and_field_of_a_bad_account(tmp_path, line, words):
    (tmp_path / "accounts.jsonl").write_bytes(b'{"account_id": "ok"}\n' + line + b"\n")
    with pytest.raises(EvaluationError, match=r"accounts.jsonl:2: .*" + words):
        read_truth(tmp_path)


def test_simulate_refuses_a_run_that_goes_past_the_contract_years(tmp_path):
    _refused(_forewarn("simulate", "--out", str(tmp_path / "y9k"), "--accounts", "5", "--days", "40",
                       "--start", "8999-12-01"), "days=40", "8999-12-31", "1000-8999")
    assert not (tmp_path / "y9k").exists()


def test_a_run_on_the_last_day_of_the_contract_years_writes_only_valid_events(tmp_path):
    from schemas.event import Event, parse_event

    out = tmp_path / "last"
    done = _forewarn("simulate", "--out", str(out), "--accounts", "30", "--days", "1", "--start", "8999-12-31",
                     "--malformed", "0")
    assert done.returncode == 0, done.stderr
    lines = (out / "events.jsonl").read_bytes().splitlines()
    assert lines and all(isinstance(parse_event(line), Event) for line in lines)


def test_simulate_refuses_an_unknown_lift_trigger_and_a_negative_rate(tmp_path):
    done = _forewarn("simulate", "--out", str(tmp_path / "x"), "--accounts", "5", "--days", "1",
                     "--lift", "payment_failng=0.4")
    _refused(done, "payment_failng", "known: ", "payment_failing", "usage_dropping", "*")
    _refused(_forewarn("simulate", "--out", str(tmp_path / "x"), "--accounts", "5", "--days", "1", "--rate", "-5"),
             "--rate -5")
    assert not (tmp_path / "x").exists()
    assert _forewarn("simulate", "--out", str(tmp_path / "ok"), "--accounts", "5", "--days", "1",
                     "--lift", "usage_dropping=0.4", "--lift", "*=0").returncode == 0  # a configured trigger


def test_a_negative_rate_is_refused_by_the_library_too():
    from forewarn.simulate import Simulation, SimulationConfig, SimulationConfigError, run_simulation

    with pytest.raises(SimulationConfigError, match="rate=-5"):
        run_simulation(Simulation(SimulationConfig(accounts=5, days=1)), lambda records: list(records), rate=-5)


def test_simulate_to_an_unreachable_broker_says_so_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "forewarn.cli", "simulate", "--to-kafka", "--out", str(tmp_path / "k"),
                           "--accounts", "5", "--days", "1"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    _refused(done, "--to-kafka", "127.0.0.1:1", "forewarn dev up")
    assert "%3|" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
