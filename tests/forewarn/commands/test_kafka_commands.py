"""Kafka commands against a broker that does not answer: one line and exit 1, fast, no flood of client logs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


@pytest.mark.parametrize("args", [["produce", "EVENTS"], ["topics", "create"], ["dlq", "replay"]])
def test_an_unreachable_broker_ends_the_command_with_one_line(args, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "e1"}\n')
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{_closed_port()}",
           "REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "forewarn.cli", *[str(events) if a == "EVENTS" else a for a in args]],
                          env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == 1
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: Kafka at 127.0.0.1:") and "did not answer" in lines[0]
    assert took < 40, f"took {took:.0f} s (the producer's flush waited 60 s, topic commands 30 s)"
