"""``forewarn report --metrics-out``: the headline gauges in the Prometheus text format, the report's numbers."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from measurement_synth import World, generate, write_files
from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).parent
CONFIG = HERE / "testdata" / "forewarn.yaml"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    ev, dec = write_files(*generate(World(accounts=300, days=70, decide_days=30, seed=5)), tmp)
    prom = tmp / "textfile" / "forewarn.prom"
    prom.parent.mkdir()
    prom.write_text("stale\n")  # replaced, not appended to
    run = subprocess.run([sys.executable, "-m", "forewarn.cli", "report", "--events", str(ev), "--decisions", str(dec),
                          "--config", str(CONFIG), "--out", str(tmp / "out"), "--metrics-out", str(prom)],
                         capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[3])
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"metrics: {prom}" in " ".join(run.stdout.split())
    return prom, orjson.loads((tmp / "out" / "impact-report.json").read_bytes())


def samples(prom: Path) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(prom.read_text()) for s in family.samples}


def test_the_gauges_are_the_reports_numbers(written):
    prom, j = written
    got = samples(prom)
    t = j["triggers"][0]
    for arm in ("treated", "control"):
        labels = (("arm", arm), ("trigger", "payment_failing"))
        assert got[("forewarn_outcome_success_ratio", labels)] == t[arm]["rate"]
        assert got[("forewarn_outcome_decisions", labels)] == t[arm]["decisions"]
    tickets = j["tickets"]
    assert got[("forewarn_inbound_tickets_per_active_account", ())] == tickets["inbound_per_active_account_per_week"]
    whole = [w for w in tickets["weeks"] if not w["partial"]]
    assert got[("forewarn_inbound_tickets_per_active_account_last_week", ())] == whole[-1]["inbound_per_active_account"]
    for origin, r in j["time_to_resolution"].items():
        for percentile, key in (("50", "median_hours"), ("90", "p90_hours")):
            value = got[("forewarn_time_to_resolution_seconds", (("origin", origin), ("percentile", percentile)))]
            assert value == pytest.approx(r[key] * 3600)
    assert len(got) == 4 + 2 + 4


def test_the_file_is_whole_and_readable_by_a_collector(written):
    prom, _ = written
    assert [p.name for p in prom.parent.iterdir()] == ["forewarn.prom"]  # no temporary file left behind
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    check = subprocess.run([promtool, "check", "metrics"], input=prom.read_bytes(), capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_figure_not_measurable_yet_is_nan_not_zero(tmp_path):
    import math

    from forewarn.report.output import write_metrics

    prom = write_metrics({"triggers": [], "tickets": {"inbound_per_active_account_per_week": None, "weeks": []},
                          "time_to_resolution": {}}, tmp_path / "forewarn.prom", ["payment_failing"])
    got = samples(prom)
    assert math.isnan(got[("forewarn_inbound_tickets_per_active_account", ())])
    assert got[("forewarn_outcome_decisions", (("arm", "treated"), ("trigger", "payment_failing")))] == 0
    assert not any(name == "forewarn_time_to_resolution_seconds" for name, _ in got)
