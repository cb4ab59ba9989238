"""A recorded pid that now belongs to another program (after a reboot) is neither reported running nor killed."""

from __future__ import annotations

import subprocess
import sys

from forewarn.devinfra.kafka import KafkaBroker
from forewarn.devinfra.redis import RedisServer


def test_a_reused_pid_is_not_ours(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        for server in (RedisServer(other.pid, 6379, tmp_path), KafkaBroker(other.pid, 9092, 9093, tmp_path)):
            assert not server.alive(), f"{type(server).__name__} took another program's pid for its own"
            server.stop()
            assert other.poll() is None, "stop() signalled a process that is not ours"
    finally:
        other.kill()
        other.wait()
