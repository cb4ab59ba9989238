"""The command line never loses the user's text or files: what they typed is printed as typed (never read as
rich markup), an output path that is an input is refused before anything is written, a directory or an empty
setting given for a file is one line, and a usage error is one line with exit code 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from forewarn.simulate import SimulationConfig, simulate_to_dir

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "deploy" / "config" / "forewarn.yaml"

# A config whose only mistake quotes rich markup: `[/x]` is a closing tag that matches nothing.
MARKUP_CONFIG = """\
interventions:
  checkin:
    channel: email
    priority: 50
    cooldown: 14d
    success: {event: feature.used, within: 7d}
    template: {subject: Hi}
triggers:
  stalled:
    kind: absence
    after: account.onboarded
    expect: feature.used
    within: "WITHIN"
    intervention: checkin
"""


def _forewarn(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("FOREWARN_") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    return subprocess.run([sys.executable, "-m", "forewarn.cli", *args], capture_output=True, text=True,
                          timeout=180, cwd=tmp_path,
                          env=dict(base, COLUMNS="400", FOREWARN_STATE_DIR=str(tmp_path / "state"), **env))


def _one_line(done: subprocess.CompletedProcess, *words: str, code: int = 1) -> str:
    """The single ``error: ...`` line of a refused command, which says each of ``words``."""
    assert done.returncode == code, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _events(path: Path) -> bytes:
    lines = [orjson.dumps({"event_id": f"e{i}", "account_id": f"acct-{i % 3}", "type": "feature.used",
                           "occurred_at": f"2026-01-0{1 + i % 5}T10:00:00Z", "properties": {"feature": "reports"}})
             for i in range(20)]
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(data)
    return data


# -- 1. user text is printed as typed, never as markup ---------------------------------------------------------

def test_a_config_value_that_looks_like_markup_is_quoted_not_a_markup_crash(tmp_path):
    for value in ("[/x]", "[bold]7 days"):
        (tmp_path / "markup.yaml").write_text(MARKUP_CONFIG.replace("WITHIN", value))
        # before: a rich MarkupError traceback for [/x]; "[bold]7 days" printed as '7 days'
        _one_line(_forewarn("check-config", "markup.yaml", tmp_path=tmp_path), f"'{value}'", "markup.yaml:13:")


def test_a_path_with_brackets_is_named_as_it_is(tmp_path):
    bad = tmp_path / "configs[v2]" / "forewarn.yaml"
    bad.parent.mkdir()
    bad.write_text(MARKUP_CONFIG.replace("WITHIN", "7 d"))
    # before: the error named configs/forewarn.yaml, a file that does not exist ([v2] was read as a style)
    _one_line(_forewarn("check-config", str(bad), tmp_path=tmp_path), f"{bad}:13:")

    good = tmp_path / "c[v2]" / "forewarn.yaml"
    good.parent.mkdir()
    shutil.copy(CONFIG, good)
    done = _forewarn("check-config", str(good), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Triggers in {good}" in done.stdout and f"ok: {good}:" in done.stdout, done.stdout


def test_markup_in_an_option_value_or_a_file_name_is_one_line(tmp_path):
    events = tmp_path / "events.jsonl"
    _events(events)
    _one_line(_forewarn("backtest", str(events), "--out", "f.jsonl", "--until", "[/x]", "--no-progress",
                        tmp_path=tmp_path), "--until '[/x]'")
    empty = tmp_path / "decisions.jsonl"
    empty.write_bytes(b"")
    _one_line(_forewarn("report", "--events", "[/x].jsonl", "--decisions", str(empty), "--out", "rep",
                        tmp_path=tmp_path), "[/x].jsonl")


# -- 2. a directory given for an input file -------------------------------------------------------------------

def test_a_directory_given_for_the_events_is_one_line(tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    # before: produce ended in an IsADirectoryError traceback, backtest said "no such file"
    _one_line(_forewarn("produce", str(folder), "--topic", "none", tmp_path=tmp_path), f"{folder}: is a directory")
    _one_line(_forewarn("backtest", str(folder), "--out", "f.jsonl", tmp_path=tmp_path), f"{folder}: is a directory")


# -- 3. an output that is an input is refused, and simulate replaces only its own files -------------------------

def test_backtest_refuses_to_write_the_firings_over_its_events(tmp_path):
    events = tmp_path / "x.jsonl"
    data = _events(events)
    (tmp_path / "link.jsonl").symlink_to(events)
    for out in ("x.jsonl", "link.jsonl", str(events)):
        _one_line(_forewarn("backtest", "x.jsonl", "--out", out, "--no-progress", "--workers", "1",
                            tmp_path=tmp_path), f"--out {out} would overwrite the events file")
        assert events.read_bytes() == data  # before: replaced by the firings, exit code 0
    config = tmp_path / "forewarn.yaml"
    shutil.copy(CONFIG, config)
    _one_line(_forewarn("backtest", "x.jsonl", "--config", str(config), "--out", str(config), tmp_path=tmp_path),
              "would overwrite the config file")
    assert config.read_bytes() == CONFIG.read_bytes()
    done = _forewarn("backtest", "x.jsonl", "--out", "firings.jsonl", "--no-progress", tmp_path=tmp_path)
    assert done.returncode == 0 and (tmp_path / "firings.jsonl").exists(), done.stderr[-3000:]


def test_report_refuses_to_write_over_its_inputs(tmp_path):
    events = tmp_path / "events.jsonl"
    data = _events(events)
    (tmp_path / "decisions.jsonl").write_bytes(b"")
    _one_line(_forewarn("report", "--events", "events.jsonl", "--decisions", "decisions.jsonl", "--out", "rep",
                        "--metrics-out", "events.jsonl", tmp_path=tmp_path),
              "--metrics-out events.jsonl would overwrite the events file")
    assert events.read_bytes() == data
    assert not (tmp_path / "rep").exists()  # refused before any work


def test_simulate_replaces_only_what_an_earlier_run_wrote(tmp_path):
    real = tmp_path / "real"
    (real / "truth").mkdir(parents=True)
    data = _events(real / "events.jsonl")
    args = ("--accounts", "5", "--days", "2")
    # before: exit 0, and the real events were gone
    _one_line(_forewarn("simulate", "--out", "real", *args, tmp_path=tmp_path), "events.jsonl",
              "forewarn simulate did not write it")
    assert (real / "events.jsonl").read_bytes() == data and not any((real / "truth").iterdir())

    # truth files of someone else's, with no events beside them, are not replaced either
    (real / "events.jsonl").unlink()
    (real / "truth" / "summary.json").write_bytes(b'{"mine": true}\n')
    _one_line(_forewarn("simulate", "--out", "real", *args, tmp_path=tmp_path), "summary.json")
    assert (real / "truth" / "summary.json").read_bytes() == b'{"mine": true}\n'

    # a run's own output is replaced, also when written by the library; an edited events file is not
    sim = tmp_path / "sim"
    simulate_to_dir(SimulationConfig(accounts=5, days=2, seed=1), sim)
    done = _forewarn("simulate", "--out", "sim", *args, "--seed", "2", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert orjson.loads((sim / "truth" / "summary.json").read_bytes())["seed"] == 2
    with (sim / "events.jsonl").open("ab") as fh:
        fh.write(b'{"event_id": "added by hand"}\n')
    _one_line(_forewarn("simulate", "--out", "sim", *args, tmp_path=tmp_path), "did not write it")
    assert (sim / "events.jsonl").read_bytes().endswith(b'{"event_id": "added by hand"}\n')

    # a directory of other files gains the run's files beside them
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    assert _forewarn("simulate", "--out", "other", *args, tmp_path=tmp_path).returncode == 0
    assert sorted(p.name for p in other.iterdir()) == ["events.jsonl", "notes.txt", "truth"]


# -- 4. usage errors are one line, exit code 2 ------------------------------------------------------------------

def test_a_usage_error_is_one_line_with_exit_code_2(tmp_path):
    # before: the usage, a hint and the message in a box, on six lines
    _one_line(_forewarn("backtest", tmp_path=tmp_path), "Missing argument 'EVENTS.jsonl'",
              "backtest --help'", code=2)
    _one_line(_forewarn("backtest", "x.jsonl", "--out", "f", "--workers", "many", tmp_path=tmp_path),
              "Invalid value for '--workers'", code=2)
    _one_line(_forewarn("simulate", "--out", "x", "--wokers", "1", tmp_path=tmp_path), "No such option: --wokers",
              code=2)
    done = _forewarn("bench", tmp_path=tmp_path)  # no subcommand: its help, as before
    assert done.returncode == 2 and "produce" in done.stdout and done.stderr == "", done.stderr


# -- 5. an empty setting for a path ---------------------------------------------------------------------------------

def test_an_empty_config_path_setting_is_named(tmp_path):
    for value in ("", "  "):
        # before: ".:1:1: cannot read the file (IsADirectoryError ...)", the setting not named
        _one_line(_forewarn("check-config", tmp_path=tmp_path, FOREWARN_CONFIG_PATH=value),
                  "invalid setting FOREWARN_CONFIG_PATH: is empty")
