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


def test_the_paced_producer_process_logs_every_record_in_offset_order(kafka_bootstrap, tmp_path):
    import subprocess
    import sys
    import uuid

    from streams.bench.latency import read_producer_log, write_records
    from streams.topics import delete_topics, ensure_topics

    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap)
    topic = f"bench-latency-test-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [topic], partitions=4)
    records = generate_events(3000, seed=2)
    path = tmp_path / "records.tsv"
    write_records(records, path)
    try:
        for start, stop, tag in ((0, 1000, "a"), (1000, 3000, "b")):
            done = subprocess.run(
                [sys.executable, "-m", "streams.bench.latency", "--topic", topic, "--records", str(path),
                 "--start", str(start), "--stop", str(stop), "--rate", "4000", "--log", str(tmp_path / f"{tag}.bin")],
                capture_output=True, timeout=120, env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                                                       "PATH": "/usr/bin:/bin"})
            assert done.returncode == 0, done.stderr.decode()[-2000:]
        summary = done.stdout.decode()
        assert '"produced":2000' in summary
        seconds = float(re.search(r'"seconds":([\d.]+)', summary).group(1))
        assert 0.4 <= seconds < 5.0, f"2,000 records at 4,000/s took {seconds} s"
        logs = read_producer_log([tmp_path / "a.bin", tmp_path / "b.bin"], path)
        valid = sum(1 for _k, v in records if b'"occurred_at"' in v and b'"account_id"' in v)
        assert sum(len(log.ts) for log in logs.values()) <= valid
        assert sum(len(log.ts) for log in logs.values()) >= 0.95 * len(records)
        for log in logs.values():
            assert log.running_max == sorted(log.running_max)
            assert all(t2 >= t1 - 1.0 for t1, t2 in zip(log.sent_at, log.sent_at[1:]))
        # an account lives on one partition
        owners = {}
        for p, log in logs.items():
            for acct in log.by_account:
                assert owners.setdefault(acct, p) == p
    finally:
        delete_topics(settings, [topic])


def test_the_latency_probe_times_firings_from_a_separate_producer(kafka_bootstrap, redis_url):
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url)
    report = run_pipeline_bench(settings, 30_000, window=2.0, timeout=180, latency=True, latency_seconds=3.0,
                                console=Console(quiet=True))
    assert report.detect and report.latency_rate == report.detect / 2
    note = next(n for n in report.notes if n.startswith("latency:"))
    assert "separate producer process" in note and "worker backlog while producing" in note, note
    assert report.latency_samples > 0, note
    assert 0 < report.latency_p50_ms <= report.latency_p99_ms
    assert "due rule is off" not in note, note


def test_a_latency_at_a_given_rate_is_shown_but_not_judged_against_the_half_load_target():
    from forewarn.commands.bench_pipeline import PipelineReport

    report = PipelineReport(events=1000, ceiling=100_000.0, naive=5_000.0, detect=60_000.0)
    report.latency_rate, report.latency_p99_ms, report.latency_p50_ms, report.latency_samples = 10_000.0, 150.0, 90.0, 50
    assert table_rows(report)[1][-1][3] == "met"
    report.latency_fixed = True
    name, _wanted, _shown, verdict = table_rows(report)[1][-1]
    assert "10,000" in name and "--latency-rate" in name
    assert verdict == "not judged: not half of (c)"
