"""One allowed lateness for every runtime: the config file's, unless the settings override it."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from forewarn.cli import build_app
from streams.app import Runtimes
from streams.config import effective_config
from streams.settings import Settings

SHIPPED = Settings().config_path
TEN_MINUTES_US = 10 * 60 * 1_000_000


def _config_with_lateness(tmp_path, lateness: str):
    text = SHIPPED.read_text()
    assert "allowed_lateness: 5m" in text
    path = tmp_path / "forewarn.yaml"
    path.write_text(text.replace("allowed_lateness: 5m", f"allowed_lateness: {lateness}"))
    return path


def test_the_file_decides_unless_the_settings_override_it(tmp_path, monkeypatch):
    path = _config_with_lateness(tmp_path, "10m")
    assert effective_config(Settings(config_path=path)).engine.allowed_lateness_us == TEN_MINUTES_US
    monkeypatch.setenv("FOREWARN_ALLOWED_LATENESS_S", "60")
    assert effective_config(Settings(config_path=path)).engine.allowed_lateness_us == 60_000_000


@pytest.mark.integration
def test_the_live_engine_and_models_use_the_files_lateness(tmp_path, kafka_bootstrap, redis_url):
    settings = Settings(config_path=_config_with_lateness(tmp_path, "10m"), kafka_bootstrap_servers=kafka_bootstrap,
                        redis_url=redis_url)
    detect = Runtimes(settings, CollectorRegistry()).detect
    assert detect.engine.allowed_lateness_us == TEN_MINUTES_US
    assert detect.dropoff is not None and detect.dropoff.allowed_lateness_us == TEN_MINUTES_US


def _event(i: int, stamp: str) -> bytes:
    return orjson.dumps({"event_id": f"e{i}", "account_id": "acct-1", "type": "feature.used",
                         "occurred_at": stamp, "properties": {"feature": "reports"}})


def test_backtest_takes_the_same_lateness_as_the_worker(tmp_path, monkeypatch):
    """An event 8 minutes behind the newest counts with the file's 10m, and is late with a 60 s override."""
    path = _config_with_lateness(tmp_path, "10m")
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([_event(1, "2026-01-01T10:08:00Z"), _event(2, "2026-01-01T10:00:00Z")]) + b"\n")
    runner = CliRunner()

    def late_count(extra_env: dict[str, str]) -> str:
        result = runner.invoke(build_app(), ["backtest", str(events), "--out", str(tmp_path / "f.jsonl"),
                                             "--config", str(path), "--no-progress", "--workers", "1"],
                               env=extra_env)
        assert result.exit_code == 0, result.output
        return result.output

    assert "skipped: late" not in late_count({})
    monkeypatch.setenv("FOREWARN_ALLOWED_LATENESS_S", "60")
    assert "skipped: late" in late_count({"FOREWARN_ALLOWED_LATENESS_S": "60"})
