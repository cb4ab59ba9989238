"""A config without ``channels:``: ``check-config`` and the dispatcher refuse it at the same place, one line.

``check-config`` promises that a file it passes cannot fail at start-up; the dispatcher needs every
intervention's channel defined, so a file without the section used to pass ``check-config`` and then stop
the dispatcher with a message that named no line (and ``channel: emial`` was never checked at all).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RULES_ONLY = Path(__file__).resolve().parents[2] / "detectors" / "online" / "testdata" / "forewarn_rules_only.yaml"
WHERE = f"{RULES_ONLY}:21:14: interventions.onboarding_checkin.channel: 'email' names no channel"


def _forewarn(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("FOREWARN_")}
    return subprocess.run([sys.executable, "-m", "forewarn.cli", *args], capture_output=True, text=True,
                          check=False, timeout=120, env={**base, **(env or {})})


def test_check_config_refuses_a_file_without_channels_where_the_first_channel_is_named():
    done = _forewarn("check-config", str(RULES_ONLY))
    assert done.returncode == 1, done.stdout[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {WHERE}"), done.stderr


def test_check_config_without_the_dispatcher_check_passes_the_same_file():
    done = _forewarn("check-config", "--no-dispatcher", str(RULES_ONLY))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ok: " in done.stdout and "triggers" in done.stdout, done.stdout[-500:]


@pytest.mark.integration
def test_the_dispatcher_refuses_it_with_the_same_line(worker_env):
    done = _forewarn("dispatcher", "--config", str(RULES_ONLY), "--metrics-port", "0", env=worker_env)
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {WHERE}"), done.stderr
