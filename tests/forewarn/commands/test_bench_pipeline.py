"""``forewarn bench pipeline`` with tiny sizes on the session's real Kafka and Redis: every figure is measured."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from forewarn.commands.bench_pipeline import generate_events, run_pipeline_bench, table_rows
from streams.settings import Settings

pytestmark = pytest.mark.integration


def _number(text: str) -> float:
    match = re.search(r"[\d,.]+", text)
    assert match, f"no number in {text!r}"
    return float(match.group().replace(",", ""))


def test_generated_events_are_the_simulators_first_n():
    records = generate_events(500, seed=1)
    assert len(records) == 500
    assert all(isinstance(k, bytes) and v.startswith(b"{") for k, v in records[:50] if k)


def test_the_bench_prints_three_rates_and_two_ratios(kafka_bootstrap, redis_url):
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url)
    report = run_pipeline_bench(settings, 30_000, window=3.0, timeout=180, latency=False,
                                console=Console(quiet=True))
    figures, targets = table_rows(report)
    assert [row[0][:9] for row in figures] == ["(a) raw c", "(b) naive", "(c) forew", "(c) ÷ (b)", "(c) ÷ (a)"]
    for label, shown in (row[:2] for row in figures):
        assert _number(shown) > 0, f"{label}: {shown}"
    assert report.ceiling and report.naive and report.detect
    assert [t[3] for t in targets][-1] == "not measured"
    assert all(t[3] in ("met", "NOT met") for t in targets[:3])
