"""``forewarn dispatcher`` checks Kafka and Redis before it starts: one line, exit 1, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys


def test_unreachable_servers_are_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env.update(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", REDIS_URL="redis://forewarn:s3cret@127.0.0.1:1/0",
               FOREWARN_STATE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "forewarn.cli", "dispatcher", "--metrics-port", "0"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Kafka at 127.0.0.1:1"), done.stderr[-2000:]
    assert "Redis at redis://forewarn:***@127.0.0.1:1/0" in lines[0] and "s3cret" not in done.stderr
