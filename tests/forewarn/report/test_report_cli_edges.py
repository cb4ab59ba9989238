"""``forewarn report`` on inputs at the edges: one clear line and exit 1 for what it refuses, a note when it
brings ``--until`` back to the data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from measurement_synth import World, generate, write_files

HERE = Path(__file__).parent
CONFIG = HERE / "testdata" / "forewarn.yaml"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edges")
    decisions, events = generate(World(accounts=200, days=45, decide_days=30, seed=3))
    return write_files(decisions, events, tmp)


def forewarn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forewarn.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parents[3])


def report(history, out: Path, *extra: str) -> subprocess.CompletedProcess:
    ev, dec = history
    return forewarn("report", "--events", str(ev), "--decisions", str(dec), "--config", str(CONFIG),
                    "--out", str(out), *extra)


def one_line_error(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def test_an_until_after_the_data_is_brought_back_and_said(history, tmp_path):
    run = report(history, tmp_path / "r", "--until", "2027-01-01T00:00:00Z")
    assert run.returncode == 0, run.stderr[-2000:]
    j = orjson.loads((tmp_path / "r" / "impact-report.json").read_bytes())
    assert j["window"]["until_requested"] == "2027-01-01T00:00:00Z" and j["window"]["until"] < "2026-02-20"
    assert "note: until 2027-01-01T00:00:00Z is after the last event" in " ".join(run.stdout.split())
    assert j["window"]["note"] in (tmp_path / "r" / "impact-report.html").read_text()


@pytest.mark.parametrize("window", [
    ["--since", "2026-02-01T00:00:00Z", "--until", "2026-01-20T00:00:00Z"],
    ["--until", "2020-01-01T00:00:00Z"],
])
def test_an_inverted_window_is_refused_in_one_line(history, tmp_path, window):
    line = one_line_error(report(history, tmp_path / "r", *window))
    assert "empty window" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("where", ["file", "file/below"])
def test_an_out_that_is_a_file_is_refused_in_one_line(history, tmp_path, where):
    (tmp_path / "file").write_text("keep me")
    line = one_line_error(report(history, tmp_path / where))
    assert str(tmp_path / "file") in line and "give --out a directory" in line
    assert (tmp_path / "file").read_text() == "keep me"
