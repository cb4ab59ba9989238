"""``forewarn demo`` stopped by a signal leaves nothing running: SIGTERM, SIGHUP and a second Ctrl-C included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forewarn.devinfra.procs import pid_alive

pytestmark = pytest.mark.integration


def _demo_children(config_path: Path) -> list[int]:
    """Pids of the worker and dispatcher a demo started (found by the config path in their environment)."""
    marker = f"FOREWARN_CONFIG_PATH={config_path}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ and b"forewarn.cli" in cmdline:
            found.append(int(entry.name))
    return found


def _start_demo(tmp_path: Path, kafka_bootstrap: str | None, redis_url: str | None
                ) -> tuple[subprocess.Popen, list[int]]:
    """A tiny demo on the session's servers (or, given None, on servers of its own), returned once its
    worker and dispatcher both run."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    env["FOREWARN_STATE_DIR"] = str(tmp_path / "state")
    if kafka_bootstrap and redis_url:
        env.update(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, REDIS_URL=redis_url)
    out = tmp_path / "out"
    demo = subprocess.Popen([sys.executable, "-m", "forewarn.cli", "demo", "--accounts", "20", "--days", "60",
                             "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    children: list[int] = []
    while time.monotonic() < deadline and demo.poll() is None:
        children = _demo_children(out / "demo-config.yaml")
        if len(children) >= 2:
            break
        time.sleep(0.2)
    if len(children) < 2:
        demo.kill()
        pytest.fail(f"the demo did not start its worker and dispatcher: {demo.communicate()[1][-2000:]!r}")
    time.sleep(2)  # let them get going: stopping a worker mid-start-up is the slow case
    return demo, children


def _assert_all_stopped(demo: subprocess.Popen, children: list[int]) -> str:
    try:
        _, stderr = demo.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        demo.kill()
        pytest.fail("the demo did not end after the signal")
    left = [pid for pid in children if pid_alive(pid)]
    for pid in left:
        os.killpg(pid, signal.SIGKILL)
    assert not left, f"worker/dispatcher left running after the demo ended: {left}"
    assert demo.returncode == 130, stderr.decode()[-2000:]
    return stderr.decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_everything(sig, tmp_path, kafka_bootstrap, redis_url):
    demo, children = _start_demo(tmp_path, kafka_bootstrap, redis_url)
    demo.send_signal(sig)
    stderr = _assert_all_stopped(demo, children)
    assert "Traceback" not in stderr


def test_a_second_ctrl_c_does_not_cut_the_shutdown_short(tmp_path, kafka_bootstrap, redis_url):
    demo, children = _start_demo(tmp_path, kafka_bootstrap, redis_url)
    demo.send_signal(signal.SIGINT)
    for sig in (signal.SIGINT, signal.SIGINT, signal.SIGTERM):  # while the worker is being stopped
        time.sleep(0.3)
        if demo.poll() is None:
            demo.send_signal(sig)
    stderr = _assert_all_stopped(demo, children)
    assert "Traceback" not in stderr
    assert "stopping…, please wait" in stderr


def test_ctrl_c_stops_the_servers_the_demo_started_quietly(tmp_path):
    """On its own Kafka and Redis: both stopped, and no Kafka client left to log reconnects while Kafka stops."""
    import json

    demo, children = _start_demo(tmp_path, None, None)
    servers = json.loads((tmp_path / "state" / "stack.json").read_text())
    demo.send_signal(signal.SIGINT)
    stderr = _assert_all_stopped(demo, children)
    assert not pid_alive(servers["kafka"]["pid"]) and not pid_alive(servers["redis"]["pid"])
    assert "rdkafka" not in stderr and "Traceback" not in stderr, stderr[-2000:]
