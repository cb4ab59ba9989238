"""usage_drop triggers in the config run beside the rule engine: ``forewarn backtest`` fires them too."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.config import load_config
from detectors.online.runner import UsageDropRunner, partition_of
from detectors.online.usage_drop import UsageDrop
from forewarn.commands.backtest import run_backtest
from schemas.event import event_to_json
from online_streams import DAY, T0_DAY, chunks, noisy_arrival, population

DATA = Path(__file__).parent / "testdata"
CONFIG = DATA / "forewarn_with_usage_drop.yaml"
SILENT = {"acct-004": 55, "acct-017": 62, "acct-030": 70}


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    events = noisy_arrival(population(5, accounts=60, days=100, silent=SILENT), 5)
    path = tmp_path_factory.mktemp("drop") / "events.jsonl"
    path.write_bytes(b"".join(event_to_json(e) + b"\n" for e in events) + b'{"not": "an event"}\n')
    return path, events


def _keys(firings):
    return [(f.firing_id, f.trigger, f.account_id, f.fired_at, orjson.dumps(f.evidence)) for f in firings]


def test_the_config_reads_a_usage_drop_trigger_that_the_rule_engine_leaves_out():
    config = load_config(CONFIG)
    spec = config.triggers["usage_dropping"].rule
    assert isinstance(spec, UsageDrop) and spec.quantile == 0.98 and spec.min_history_days == 21
    assert spec not in config.rules() and len(config.rules()) == 3
    assert config.success_metric("usage_dropping").describe() == "session.started or feature.used within 14d"


def test_backtest_fires_usage_drop_exactly_as_a_direct_replay_does(events_file):
    path, events = events_file
    config = load_config(CONFIG)
    report = run_backtest(path, config)
    drops = [f for f in report.firings if f.trigger == "usage_dropping"]
    assert {f.account_id for f in drops} >= set(SILENT), "the accounts that fell silent are flagged"
    for aid, day in SILENT.items():
        first = min(f.fired_at for f in drops if f.account_id == aid)
        assert (T0_DAY + day) * DAY < first <= (T0_DAY + day + 12) * DAY

    # the same events, routed by hand to the same partitions, in other chunk sizes
    direct = UsageDropRunner.from_config(config)
    fired = []
    for chunk in chunks(events, [1, 333, 4096]):
        fired += direct.process(chunk)
    fired += direct.advance_to(report.until_us)
    assert _keys(sorted(drops, key=lambda f: (f.fired_at, f.account_id))) == \
        _keys(sorted([f for f in fired if f.fired_at <= report.until_us], key=lambda f: (f.fired_at, f.account_id)))

    # and the rule triggers fire exactly as they do without a usage_drop trigger
    plain = load_config(DATA / "forewarn_rules_only.yaml")
    rules_only = run_backtest(path, plain)
    assert _keys([f for f in report.firings if f.trigger != "usage_dropping"]) == _keys(rules_only.firings)


def test_partitions_follow_the_producers_key_hash():
    runner = UsageDropRunner([UsageDrop("u")], allowed_lateness_us=0, partitions=3)
    ids = [f"acct-{i}" for i in range(200)]
    spread = {p: sum(1 for a in ids if partition_of(a, 3) == p) for p in range(3)}
    assert all(40 < n < 90 for n in spread.values()), spread
    assert len(runner.detectors) == 3
