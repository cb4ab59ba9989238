"""What the config loader refuses before or around the YAML itself, each as one ``file:line:column`` line.

Paths that are not a config file (a FIFO would block the reader forever, ``/dev/zero`` never ends, a huge file),
the ``FOREWARN_ALLOWED_LATENESS_S`` override (it gets the file's checks), the dispatcher's ``channels:`` check,
and the command line printing one line instead of a traceback for what used to raise one.
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.config_yaml import ConfigError
from streams import config as streams_config
from streams.settings import Settings

BAD = Path(__file__).parents[1] / "detectors" / "testdata" / "config" / "bad"
ROOT = Path(__file__).parents[2]

CONFIG = """\
engine: {state_ttl: 10d}
interventions:
  nudge: {channel: hook, priority: 1, cooldown: 0s, success: {event: feature.used, within: 1d}}
triggers:
  stalled: {kind: absence, after: account.created, expect: feature.used, within: 7d, intervention: nudge}
"""
CHANNELS = 'channels:\n  hook: {kind: webhook, url: "https://hooks.example.com/forewarn"}\n'


def _check_config(path: Path | str, timeout: float = 120, memory_bytes: int | None = None,
                  **env: str) -> subprocess.CompletedProcess[str]:
    """``forewarn check-config PATH`` in a child process (a hang is a timeout, not a stuck test run)."""

    def limit() -> None:
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return subprocess.run([sys.executable, "-m", "forewarn.cli", "check-config", str(path)], check=False, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **env}, preexec_fn=limit)


def _one_line_error(done: subprocess.CompletedProcess[str], path: Path | str, words: str) -> None:
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert f"{path}:1:1: " in lines[0] and words in lines[0], out


# -- paths that are not a config file ------------------------------------------------------------------------


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "forewarn.yaml"
    os.mkfifo(fifo)
    try:
        done = _check_config(fifo, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("check-config waited for a writer on a FIFO")
    _one_line_error(done, fifo, "not a regular file")


def test_dev_zero_is_refused_before_reading():
    # Before: the whole of /dev/zero was read into memory (here capped at 2 GB: a MemoryError traceback).
    done = _check_config("/dev/zero", timeout=300, memory_bytes=2 * 1024**3)
    _one_line_error(done, "/dev/zero", "not a regular file")


def test_a_directory_and_a_huge_file_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=rf"^{tmp_path}:1:1: this is a directory; pass the path of a Forewarn"):
        streams_config.load_config(tmp_path)
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as file:
        file.truncate(11 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(ConfigError, match=rf"^{huge}:1:1: the file is 11.0 MB; a config file may be at most 10 MB"):
        streams_config.load_config(huge)


@pytest.mark.parametrize("name", ["nesting_too_deep.yaml", "money_too_large.yaml", "number_too_long.yaml"])
def test_check_config_prints_one_line_where_it_printed_a_traceback(name):
    path = BAD / name
    done = _check_config(path)
    out = done.stdout + done.stderr
    expected = path.read_text(encoding="utf-8").split("\n", 1)[0][len("# expect: "):]
    assert done.returncode == 1, out
    assert [line for line in out.splitlines() if line.strip()] == [f"error: {path}:{expected}"], out


# -- FOREWARN_ALLOWED_LATENESS_S gets the file's checks ---------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e300", str(3650 * 86_400 + 1)])
def test_the_lateness_setting_is_a_finite_duration_of_ten_years_at_most(monkeypatch, value):
    monkeypatch.setenv("FOREWARN_ALLOWED_LATENESS_S", value)
    with pytest.raises(ValidationError):
        Settings()


def test_the_lateness_setting_must_leave_the_state_ttl_enough(tmp_path, monkeypatch):
    path = tmp_path / "forewarn.yaml"
    path.write_text(CONFIG)
    # The same 4 days written in the file are refused ...
    with pytest.raises(ConfigError, match="its state must be kept 11d"):
        streams_config.config_from_text(CONFIG.replace("state_ttl: 10d", "state_ttl: 10d, allowed_lateness: 4d"))
    # ... and from the environment too, naming the variable and the trigger's place in the file.
    monkeypatch.setenv("FOREWARN_ALLOWED_LATENESS_S", str(4 * 86_400))
    with pytest.raises(ConfigError) as err:
        streams_config.effective_config(Settings(config_path=path))
    assert str(err.value) == (
        f"FOREWARN_ALLOWED_LATENESS_S=345600: triggers.stalled ({path}:5:3): with this allowed lateness its state "
        "must be kept 11d after an account's last event, but engine.state_ttl is 10d; set "
        "FOREWARN_ALLOWED_LATENESS_S to at most 259200 or raise engine.state_ttl to at least 11d")
    monkeypatch.setenv("FOREWARN_ALLOWED_LATENESS_S", "259200")
    assert streams_config.effective_config(Settings(config_path=path)).engine.allowed_lateness_us == 3 * 86_400 * 10**6


def test_apply_settings_refuses_a_lateness_that_skipped_the_settings_checks():
    config = streams_config.config_from_text(CONFIG)
    for seconds in (math.inf, math.nan, 1e300):
        settings = Settings.model_construct(allowed_lateness_s=seconds)  # no validation, as a caller might build it
        with pytest.raises(ConfigError, match="^FOREWARN_ALLOWED_LATENESS_S=.*: the allowed lateness must be 0 to"):
            streams_config.apply_settings(config, settings)


# -- the dispatcher's part of the file ---------------------------------------------------------------------------


def test_without_channels_the_dispatcher_check_names_the_first_interventions_channel(tmp_path):
    path = tmp_path / "forewarn.yaml"
    path.write_text(CONFIG.replace("channel: hook", "channel: emial"))
    config = streams_config.load_config(path)  # the worker, backtest and reports need no channels: section
    with pytest.raises(ConfigError) as err:
        streams_config.check_dispatcher_config(config)
    assert str(err.value).startswith(
        f"{path}:3:20: interventions.nudge.channel: 'emial' names no channel: the file has no channels: section, "
        "which the dispatcher needs to send interventions; add e.g. channels: {emial: {kind: webhook, ")
    with pytest.raises(ConfigError, match=rf"^{path}:3:20: interventions.nudge.channel: 'emial' names no channel"):
        streams_config.load_dispatcher_config(path)


def test_with_channels_the_dispatcher_check_passes_and_every_channel_was_checked(tmp_path):
    path = tmp_path / "forewarn.yaml"
    path.write_text(CONFIG + CHANNELS)
    assert streams_config.load_dispatcher_config(path).extra["channels"]["hook"].kind == "webhook"
    path.write_text(CONFIG.replace("channel: hook", "channel: emial") + CHANNELS)
    with pytest.raises(ConfigError, match=r":3:3: interventions.nudge.channel: unknown channel 'emial'"):
        streams_config.load_dispatcher_config(path)
