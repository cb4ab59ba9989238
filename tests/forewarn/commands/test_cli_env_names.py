"""A misspelt FOREWARN_* variable ends every command in the one line of an invalid setting, exit code 1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SECRET = "hunter2-but-longer-0f-a-typo"


def _forewarn(*args: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if not k.upper().startswith("FOREWARN_") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    return subprocess.run([sys.executable, "-m", "forewarn.cli", *args], capture_output=True, text=True,
                          check=False, timeout=120, env=dict(base, FOREWARN_STATE_DIR=str(tmp_path / "state"), **env))


@pytest.mark.parametrize("command", [["check-config"], ["worker"], ["dispatcher"], ["outcomes"]])
def test_a_misspelt_name_stops_the_command_with_one_line(command, tmp_path):
    done = _forewarn(*command, tmp_path=tmp_path, FOREWARN_MODEL_CHECKPOINT_KY=SECRET)
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [(
        "error: invalid setting FOREWARN_MODEL_CHECKPOINT_KY: no such setting "
        "(did you mean FOREWARN_MODEL_CHECKPOINT_KEY?)")], done.stderr[-2000:]
    assert SECRET not in done.stdout + done.stderr


def test_check_config_runs_with_the_names_spelt_right(tmp_path):
    done = _forewarn("check-config", tmp_path=tmp_path, FOREWARN_MODEL_CHECKPOINT_KEY=SECRET,
                     forewarn_idle_advance="0")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ok" in done.stdout
