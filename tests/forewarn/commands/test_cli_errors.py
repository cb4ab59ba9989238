"""Invalid settings and unusable ports end in one line naming what is wrong (never a secret); bugs keep tracebacks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from pydantic import BaseModel, ValidationError

from forewarn import cli
from forewarn.commands.common import ServeError, serve
from streams.settings import Settings


def _forewarn(*args: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("FOREWARN_") and k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    return subprocess.run([sys.executable, "-m", "forewarn.cli", *args], capture_output=True, text=True,
                          timeout=120, env=dict(base, FOREWARN_STATE_DIR=str(tmp_path / "state"), **env))


@pytest.mark.parametrize("name, value, says", [
    ("FOREWARN_METRICS_PORT", "abc", "FOREWARN_METRICS_PORT: Input should be a valid integer"),
    ("FOREWARN_TOPICS", "garbage", "FOREWARN_TOPICS is not valid JSON"),
    ("FOREWARN_MODEL_CHECKPOINT_KEY", "tooshortsecret", "FOREWARN_MODEL_CHECKPOINT_KEY: Value should have at least 16"),
    ("FOREWARN_DISPATCHER__CONCURRENCY", "many", "FOREWARN_DISPATCHER__CONCURRENCY: Input should be a valid integer"),
    # The placeholders of deploy/k8s/secret.yaml, applied unedited: refused, not used as public keys.
    ("FOREWARN_MODEL_CHECKPOINT_KEY", "REPLACE-ME-WITH-32-RANDOM-BYTES-HEX",
     "FOREWARN_MODEL_CHECKPOINT_KEY: is still the template's placeholder"),
    ("FOREWARN_DISPATCHER__CHANNEL_SECRETS__CSM_TASK", "REPLACE-ME",
     "FOREWARN_DISPATCHER__CHANNEL_SECRETS__CSM_TASK: is still the template's placeholder"),
])
def test_an_invalid_setting_is_one_line_without_its_value(name, value, says, tmp_path):
    done = _forewarn("dispatcher", tmp_path=tmp_path, **{name: value})
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid setting {says}"), done.stderr[-2000:]
    assert value not in done.stderr


def test_dev_up_with_an_impossible_port_is_one_line(tmp_path):
    done = _forewarn("dev", "up", "--kafka-port", "70000", tmp_path=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: port 70000 for Kafka is out of range: pick one from 1 to 65535"]


def test_a_busy_or_impossible_metrics_port_is_a_forewarn_error():
    from prometheus_client import CollectorRegistry

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        with pytest.raises(ServeError, match=rf"cannot serve /metrics on 127.0.0.1:{busy}: Address already in use"):
            serve(Settings(), busy, CollectorRegistry(), lambda stop: None)
    with pytest.raises(ServeError, match="metrics port 70000 is out of range"):
        serve(Settings(), 70000, CollectorRegistry(), lambda stop: None)


def test_a_validation_error_that_is_not_about_settings_keeps_its_traceback(monkeypatch):
    class Other(BaseModel):
        n: int

    def app(**kw):
        Other(n="x")

    monkeypatch.setattr(cli, "build_app", lambda: app)
    with pytest.raises(ValidationError):
        cli.main([])
