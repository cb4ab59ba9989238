"""The closed loop on the real Kafka and Redis: counts reconcile, only treated commands reach customers."""

from __future__ import annotations

import pytest

from forewarn.demo import ClosedLoop, DemoOptions

pytestmark = pytest.mark.integration


def test_closed_loop_reconciles_and_writes_the_report(kafka_bootstrap, redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("REDIS_URL", redis_url)
    notes: list[str] = []
    result = ClosedLoop(DemoOptions(accounts=400, days=40, seed=3, out=tmp_path), note=notes.append).run()
    c = result.counts
    assert c["firings"] > 10
    assert c["firings"] == c["decisions"], "every firing gets exactly one decision"
    assert c["decisions treated"] == c["commands"], "only treated decisions become commands"
    assert c["decisions control"] > 0
    assert c.get("receipts delivered", 0) + c["commands dead-lettered"] == c["commands"]
    assert c["received by the stand-in"] == c.get("receipts delivered", 0), "control or suppressed ones arrived"
    assert c["fed_back"] == c["received by the stand-in"]
    assert result.html.exists() and result.json.exists()
    prom = tmp_path / "forewarn.prom"  # the headline gauges beside the report, and where they are said
    assert prom.read_text().count("forewarn_outcome_decisions{") >= 2 and any(str(prom) in n for n in notes)
    triggers = {t["trigger"] for t in result.report["triggers"]}
    assert triggers, "the report names the triggers it judged"
