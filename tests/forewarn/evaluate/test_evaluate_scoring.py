"""Scoring firings against the truth: the definitions, on hand-made cases."""

from __future__ import annotations

import pytest

from forewarn.evaluate.rolling_mean import RollingMeanRule
from forewarn.evaluate.scoring import score_firings
from forewarn.evaluate.truth import AccountTruth
from schemas.firing import Firing

D = 86_400_000_000


def _truth():
    return {
        "dec-1": AccountTruth("dec-1", "slow_decline", "declining", 100 * D, 140 * D),
        "dec-2": AccountTruth("dec-2", "slow_decline", "declining", 120 * D, None),   # still subscribed
        "dec-3": AccountTruth("dec-3", "slow_decline", "declining", 130 * D, 160 * D),  # missed
        "quiet": AccountTruth("quiet", "quiet_churns", "other_drop", None, 150 * D),
        "ok-1": AccountTruth("ok-1", "steady_power", "healthy", None, None),
        "ok-2": AccountTruth("ok-2", "occasional", "healthy", None, None),
    }


def test_detections_false_alarms_other_drops_and_lead():
    firings = [
        Firing("u", "dec-1", 90 * D),    # before its decline: a false alarm
        Firing("u", "dec-1", 115 * D),   # detection, 25 days before it canceled
        Firing("u", "dec-1", 125 * D),   # a second detection of the same account
        Firing("u", "dec-2", 150 * D),   # detection, no lead (never canceled)
        Firing("u", "quiet", 140 * D),   # a real drop, not a decline
        Firing("u", "ok-1", 60 * D),     # false alarm
        Firing("u", "nobody", 60 * D),   # not in the truth: false alarm
    ]
    s = score_firings("x", firings, _truth(), healthy_account_days=2000)
    assert (s.firings, s.detections, s.false_alarms, s.other_drop_firings) == (7, 3, 3, 1)
    assert (s.detected, s.declining_accounts, s.declining_churned, s.detected_churned) == (2, 3, 2, 1)
    assert s.recall == pytest.approx(2 / 3) and s.recall_churned == pytest.approx(1 / 2)
    assert s.precision == pytest.approx(3 / 6) and s.strict_precision == pytest.approx(3 / 7)
    assert s.leads_days == [25.0] and s.median_lead_days == 25.0
    assert (s.early_false_alarms, s.healthy_false_alarms, s.unknown_account_firings) == (1, 1, 1)
    assert s.false_alarms_per_1000 == pytest.approx(0.5)
    assert s.to_json()["share_lead_at_least_14d"] == 1.0


def test_no_firings_scores_nothing_without_dividing_by_zero():
    s = score_firings("x", [], _truth(), healthy_account_days=0)
    assert s.recall == 0.0 and s.precision is None and s.median_lead_days is None
    assert s.false_alarms_per_1000 is None


def test_truth_classes_come_from_the_truth_fields():
    base = {"account_id": "a", "persona": "p", "decline_started": None, "churned_at": None, "quiet_from": None,
            "onboarded_at": None, "first_core_feature_at": None}
    kind = lambda **kw: AccountTruth.from_json({**base, **kw}).kind
    assert kind() == "healthy"
    assert kind(decline_started="2026-02-01", churned_at="2026-03-01T00:00:00Z") == "declining"
    assert kind(quiet_from="2026-02-01T00:00:00Z") == "other_drop"
    assert kind(churned_at="2026-03-01T00:00:00Z") == "other_drop"
    assert kind(onboarded_at="2026-02-01T09:00:00Z") == "other_drop"       # never adopted a core feature
    assert kind(onboarded_at="2026-02-01T09:00:00Z", first_core_feature_at="2026-02-02T09:00:00Z") == "healthy"


def test_the_rolling_mean_baseline_fires_once_per_episode_and_rearms():
    rule = RollingMeanRule(recent_days=7, prior_days=28, ratio=0.5, recover_ratio=0.75)
    pattern = [1] * 40 + [0] * 10 + [1] * 14 + [0] * 10
    for day, active in enumerate(pattern):
        rule.observe("a", day, {"day_active": active}, 1.0)
    fired_days = [f.fired_at // D - 1 for f in rule.firings]
    assert fired_days == [43, 68]  # the second drop is measured against a prior that holds the first
    assert rule.firings[0].evidence["prior_active_share"] == 1.0
    canceled = RollingMeanRule()
    for day in range(60):
        canceled.observe("b", day, {"day_active": 0}, None)  # not scored: canceled
    assert canceled.firings == []


def test_the_rolling_mean_windows_count_unscored_days_too():
    # recent = the last 2 days, prior = the 4 before; days 4 and 5 are not scored (canceled, inactive).
    rule = RollingMeanRule(recent_days=2, prior_days=4, ratio=0.5)
    for day, (active, score) in enumerate([(1, 1.0)] * 4 + [(0, None)] * 2 + [(0, 1.0)] * 2):
        rule.observe("a", day, {"day_active": active}, score)
    # Day 6: recent = days 5-6 (none active), prior = days 1-4 (three active of four).
    assert [(f.fired_at // D - 1, f.evidence["prior_active_share"]) for f in rule.firings] == [(6, 0.75)]
