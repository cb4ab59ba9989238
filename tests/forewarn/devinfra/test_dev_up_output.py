"""``forewarn dev up`` shows where the servers are, never the Redis password."""

from __future__ import annotations

from typer.testing import CliRunner

from forewarn.cli import build_app
from forewarn.devinfra import DevStack, Endpoints


def test_dev_up_masks_the_redis_password(monkeypatch, tmp_path):
    ends = Endpoints("10.0.0.5:9092", "rediss://forewarn:s3cret@10.0.0.7:6380/0", True, True)
    monkeypatch.setattr(DevStack, "up", lambda self, *a, **kw: ends)
    done = CliRunner().invoke(build_app(), ["dev", "up", "--state-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "rediss://forewarn:***@10.0.0.7:6380/0" in done.output
    assert "s3cret" not in done.output
