"""``forewarn dev``: up twice is harmless, env prints usable endpoints, down leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from forewarn.devinfra.procs import pid_alive

pytestmark = pytest.mark.integration


def _forewarn(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forewarn.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_up_twice_env_and_down(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    state = str(tmp_path / "state")
    first = _forewarn("dev", "up", "--state-dir", state, env=env)
    assert first.returncode == 0, first.stderr
    try:
        pids = json.loads((tmp_path / "state" / "stack.json").read_text())
        second = _forewarn("dev", "up", "--state-dir", state, env=env)
        assert second.returncode == 0, second.stderr
        assert json.loads((tmp_path / "state" / "stack.json").read_text()) == pids, "second 'up' started new servers"

        printed = _forewarn("dev", "env", "--state-dir", state, env=env)
        assert printed.returncode == 0
        values = dict(line.removeprefix("export ").split("=", 1) for line in printed.stdout.splitlines())
        assert values["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{pids['kafka']['port']}"
        assert values["REDIS_URL"] == f"redis://127.0.0.1:{pids['redis']['port']}/0"
        listed = subprocess.run(["kcat", "-b", values["KAFKA_BOOTSTRAP_SERVERS"], "-L"], capture_output=True,
                                text=True, timeout=60)
        assert " 1 brokers:" in listed.stdout
    finally:
        down = _forewarn("dev", "down", "--state-dir", state, env=env)
    assert down.returncode == 0, down.stderr
    assert not pid_alive(pids["kafka"]["pid"]) and not pid_alive(pids["redis"]["pid"])
    gone = _forewarn("dev", "env", "--state-dir", state, env=env)
    assert gone.returncode == 1 and "not running" in gone.stderr


def test_taken_port_is_a_one_line_error(tmp_path):
    import socket

    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = _forewarn("dev", "up", "--state-dir", str(tmp_path), "--kafka-port", str(port), env=env)
    assert done.returncode == 1
    assert f"port {port} for Kafka is already taken" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
