"""The detection engine, replaying a noisy simulated file, finds exactly the truth's firings.

Two independent statements of DESIGN.md's seed triggers — the engine behind
``forewarn backtest`` and the simulator's reference — must agree on data that
walks every boundary, with duplicates, out-of-order delivery and broken lines.
"""

from __future__ import annotations

import os
import subprocess
import sys

import orjson


def _forewarn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forewarn.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_backtest_of_a_simulated_run_equals_the_truth(tmp_path):
    sim = tmp_path / "sim"
    done = _forewarn("simulate", "--accounts", "400", "--days", "60", "--seed", "13", "--out", str(sim),
                     "--duplicates", "0.02", "--out-of-order", "0.1", "--malformed", "0.01")
    assert done.returncode == 0, done.stderr
    done = _forewarn("backtest", str(sim / "events.jsonl"), "--out", str(tmp_path / "firings.jsonl"),
                     "--no-progress")
    assert done.returncode == 0, done.stderr

    def firings(path):
        return [{k: v for k, v in orjson.loads(line).items() if k != "evidence"}
                for line in path.read_bytes().splitlines()]

    truth = firings(sim / "truth" / "firings.jsonl")
    assert {f["trigger"] for f in truth} == {"onboarding_stalled", "payment_failing", "power_user_gone_quiet"}
    assert firings(tmp_path / "firings.jsonl") == truth
