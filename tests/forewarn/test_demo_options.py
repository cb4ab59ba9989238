"""``forewarn demo`` checks its options before it starts anything: one line, nothing started."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from forewarn.demo import ClosedLoop, DemoOptions
from forewarn.devinfra import stack as stack_module
from schemas.errors import ForewarnError


@pytest.mark.parametrize("options, says", [
    ({"accounts": 0}, "accounts=0: simulate at least 1 account"),
    ({"days": 0}, "days=0: simulate at least 1 day"),
    ({"holdout": "150%"}, "holdout.share"),
])
def test_bad_options_are_refused_before_any_server_starts(options, says, tmp_path, monkeypatch):
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOREWARN_STATE_DIR", str(tmp_path / "state"))

    def no_start(*a, **kw):
        raise AssertionError("a server was started before the options were checked")

    monkeypatch.setattr(stack_module, "start_kafka", no_start)
    monkeypatch.setattr(stack_module, "start_redis", no_start)
    with pytest.raises(ForewarnError, match=says):
        ClosedLoop(DemoOptions(out=tmp_path / "out", **options), note=lambda m: None).run()
    assert not (tmp_path / "out").exists() and not (tmp_path / "state").exists()


def test_the_cli_says_it_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    env["FOREWARN_STATE_DIR"] = str(tmp_path / "state")
    done = subprocess.run([sys.executable, "-m", "forewarn.cli", "demo", "--accounts", "0", "--out",
                           str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: accounts=0: simulate at least 1 account"]
