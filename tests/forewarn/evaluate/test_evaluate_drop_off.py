"""``forewarn evaluate drop-off`` end to end on a small simulation: the table, the JSON, the baseline beside it."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from forewarn.cli import build_app
from forewarn.simulate import SimulationConfig, simulate_to_dir


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    simulate_to_dir(SimulationConfig(accounts=800, days=120, seed=11), out)
    return out


def test_the_model_is_scored_against_the_truth_beside_the_baseline(sim, tmp_path):
    result = CliRunner().invoke(build_app(), [
        "evaluate", "drop-off", "--truth", str(sim), "--partitions", "1",
        "--json", str(tmp_path / "r.json"), "--firings", str(tmp_path / "f.jsonl")])
    assert result.exit_code == 0, result.output
    for text in ("usage_drop firings vs the simulator's truth", "rolling-mean baseline", "targets (drop_z)",
                 "µs / event", "state bytes / account"):
        assert text in result.output
    body = orjson.loads((tmp_path / "r.json").read_bytes())
    model, base = body["variants"][0], body["baseline"]
    assert body["accounts"] == 800 and model["config"]["detector"] == "drop_z"
    assert model["declining_accounts"] > 20
    # the model finds most declines, early, and is far more precise than the baseline
    assert model["recall"] >= 0.6 and model["median_lead_days"] >= 7
    assert model["precision"] > base["precision"] + 0.2
    assert model["false_alarms_per_1000_healthy_account_days"] < base["false_alarms_per_1000_healthy_account_days"]
    assert model["cost"]["us_per_event"] > 0 and model["cost"]["state_bytes_per_account_mean"] > 0
    lines = (tmp_path / "f.jsonl").read_bytes().splitlines()
    assert len(lines) == model["firings"] and orjson.loads(lines[0])["trigger"] == "usage_drop"


def test_several_quantiles_and_detectors_in_one_run(sim, tmp_path):
    result = CliRunner().invoke(build_app(), [
        "evaluate", "drop-off", "--truth", str(sim / "truth"), "--partitions", "2", "--quantile", "0.99",
        "--quantile", "0.997", "--also", "rate_drop", "--no-baseline", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    body = orjson.loads((tmp_path / "r.json").read_bytes())
    names = [(v["config"]["detector"], v["config"]["quantile"]) for v in body["variants"]]
    assert names == [("drop_z", 0.99), ("drop_z", 0.997), ("rate_drop", 0.995)]  # --also: at the configured quantile
    low, high = body["variants"][0], body["variants"][1]
    assert low["firings"] >= high["firings"], "a higher quantile never fires more"
    assert body["baseline"] is None and len(low["cost"]["learned_thresholds"]) == 2


def test_a_missing_truth_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(build_app(), ["evaluate", "drop-off", "--truth", str(tmp_path)])
    assert result.exit_code != 0
    assert "no truth/accounts.jsonl here" in str(result.exception)
