"""Outcome tracking: windows, arms, order independence, late decisions, duplicates, open windows."""

from __future__ import annotations

from random import Random

import pytest

from interventions.measurement.decisions import DecisionRecord, decision_from_json, read_decisions
from interventions.measurement.errors import HistoryError
from interventions.measurement.outcomes import OutcomeTracker, track_outcomes
from interventions.measurement.state import InMemoryOutcomeState
from schemas.catalogue import SuccessMetric
from schemas.config_yaml import load_yaml_text
from schemas.event import Event
from schemas.predicate import EventSpec, read_event_spec
from schemas.timefmt import US_PER_DAY, US_PER_HOUR

DAY = US_PER_DAY
CORE = {"core": frozenset({"reports", "dashboards"})}
METRICS = {
    "onboarding_stalled": SuccessMetric((read_event_spec(load_yaml_text(
        "{event: feature.used, where: {feature: {in: core}}}"), CORE),), 7 * DAY),
    "power_user_gone_quiet": SuccessMetric((EventSpec("session.started"), EventSpec("feature.used")), 14 * DAY),
}


def decision(fid: str, account: str, trigger: str, arm: str, at: int) -> DecisionRecord:
    return DecisionRecord(fid, account, trigger, "whatever", arm, at)


def ev(eid: str, account: str, kind: str, ts: int, **props) -> Event:
    return Event(eid, account, kind, ts, None, props)


def test_success_needs_a_matching_event_inside_the_window():
    decisions = [
        decision("f1", "a1", "onboarding_stalled", "treated", 10 * DAY),
        decision("f2", "a2", "onboarding_stalled", "control", 10 * DAY),
        decision("f3", "a3", "onboarding_stalled", "treated", 10 * DAY),
        decision("f4", "a4", "onboarding_stalled", "control", 10 * DAY),
        decision("f5", "a5", "onboarding_stalled", "treated", 10 * DAY),
    ]
    events = [
        ev("e1", "a1", "feature.used", 10 * DAY, feature="reports"),        # at decided_at: counts
        ev("e2", "a2", "feature.used", 17 * DAY - 1, feature="dashboards"),  # last microsecond: counts
        ev("e3", "a3", "feature.used", 17 * DAY, feature="reports"),         # at the deadline: too late
        ev("e4", "a4", "feature.used", 12 * DAY, feature="settings"),        # not a core feature
        ev("e5", "a5", "feature.used", 10 * DAY - 1, feature="reports"),     # before the decision
        ev("e6", "a9", "feature.used", 12 * DAY, feature="reports"),         # another account
    ]
    outcomes, _ = track_outcomes(decisions, events, METRICS, until=40 * DAY)
    verdict = {o.decision.firing_id: o.success for o in outcomes}
    assert verdict == {"f1": True, "f2": True, "f3": False, "f4": False, "f5": False}
    first = next(o for o in outcomes if o.decision.firing_id == "f2")
    assert first.succeeded_at == 17 * DAY - 1 and first.window_end == 17 * DAY


def test_any_of_several_event_types_succeeds():
    d = [decision("f1", "a1", "power_user_gone_quiet", "control", 0)]
    outcomes, _ = track_outcomes(d, [ev("e1", "a1", "feature.used", 3 * DAY, feature="x")], METRICS, 30 * DAY)
    assert outcomes[0].success is True


def test_suppressed_and_unknown_triggers_are_counted_not_measured():
    ds = [decision("f1", "a1", "onboarding_stalled", "suppressed", 0),
          decision("f2", "a1", "no_such_trigger", "treated", 0),
          decision("f3", "a1", "onboarding_stalled", "treated", 0),
          decision("f3", "a1", "onboarding_stalled", "treated", 0)]
    outcomes, counts = track_outcomes(ds, [], METRICS, 30 * DAY)
    assert [o.decision.firing_id for o in outcomes] == ["f3"]
    assert counts.suppressed == {"onboarding_stalled": 1}
    assert counts.unknown_trigger == {"no_such_trigger": 1}
    assert counts.duplicates == 1


def test_window_open_at_the_end_is_undecided_even_after_an_early_success():
    ds = [decision("f1", "a1", "onboarding_stalled", "treated", 25 * DAY),
          decision("f2", "a2", "onboarding_stalled", "control", 25 * DAY)]
    events = [ev("e1", "a1", "feature.used", 26 * DAY, feature="reports")]
    outcomes, _ = track_outcomes(ds, events, METRICS, until=30 * DAY)
    assert [o.success for o in outcomes] == [None, None]


def test_arrival_order_does_not_change_the_outcomes():
    rng = Random(7)
    ds, events = [], []
    for i in range(200):
        at = rng.randrange(20) * DAY
        ds.append(decision(f"f{i}", f"a{i % 50}", "onboarding_stalled", rng.choice(["treated", "control"]), at))
    for j in range(2000):
        events.append(ev(f"e{j}", f"a{rng.randrange(50)}", "feature.used", rng.randrange(40 * DAY),
                         feature=rng.choice(["reports", "settings"])))
    ordered, _ = track_outcomes(ds, sorted(events, key=lambda e: e.ts), METRICS, 45 * DAY)
    shuffled = events[:]
    rng.shuffle(shuffled)
    mixed, _ = track_outcomes(ds, shuffled, METRICS, 45 * DAY)
    assert [(o.decision.firing_id, o.success) for o in ordered] == [(o.decision.firing_id, o.success) for o in mixed]
    assert 0 < sum(bool(o.success) for o in ordered) < len(ordered)


def test_live_order_decisions_after_their_events_need_the_lookback():
    """Live, a decision reaches the tracker after the watermark passed its firing, so events came first."""
    def run(lookback: int) -> list:
        tracker = OutcomeTracker(METRICS, InMemoryOutcomeState(), lookback_us=lookback)
        out = []
        out += tracker.observe(ev("e1", "a1", "feature.used", 10 * DAY + US_PER_HOUR, feature="reports"))
        out += tracker.advance(10 * DAY + 2 * US_PER_HOUR)
        out += tracker.decide(decision("f1", "a1", "onboarding_stalled", "treated", 10 * DAY))
        out += tracker.advance(30 * DAY)
        return [(o.decision.firing_id, o.success) for o in out]

    assert run(lookback=6 * US_PER_HOUR) == [("f1", True)]
    assert run(lookback=0) == [("f1", False)]


def test_lookback_forgets_old_events_and_claims():
    state = InMemoryOutcomeState()
    tracker = OutcomeTracker(METRICS, state, lookback_us=DAY)
    tracker.observe(ev("e1", "a1", "feature.used", 1 * DAY, feature="reports"))
    tracker.advance(5 * DAY)
    assert state.remembered("a1") == []
    assert tracker.decide(decision("f1", "a1", "onboarding_stalled", "treated", 1 * DAY)) == []
    assert [o.success for o in tracker.advance(30 * DAY)] == [False]
    # Its claim has expired by now, so the same decision redelivered much later is measured again, not lost.
    assert state.claim("f1", 0) is True


def test_decision_log_reader_names_file_and_line(tmp_path):
    good = ('{"firing_id":"f1","account_id":"a1","trigger":"t","intervention":"i","arm":"treated",'
            '"decided_at":"2026-01-05T00:00:00Z","command_id":"c1","experiment":"x"}\n')
    path = tmp_path / "decisions.jsonl"
    path.write_text(good + "\n" + '{"firing_id":"f2","arm":"treated"}\n')
    reader = read_decisions(path)
    assert next(reader).command_id == "c1"
    with pytest.raises(HistoryError, match=r"decisions.jsonl:3: decision f2: missing account_id"):
        next(reader)
    with pytest.raises(HistoryError, match="cannot read decisions"):
        list(read_decisions(tmp_path / "missing.jsonl"))


def test_decision_reader_accepts_the_contract_model():
    from schemas.decision import Decision, decision_id

    d = Decision(decision_id=decision_id("f" * 32), firing_id="f" * 32, account_id="acct-1", trigger="t",
                 intervention="i", arm="control", fired_at="2026-01-05T10:00:00Z",
                 decided_at="2026-01-05T10:00:00+01:00", experiment="e")
    rec = decision_from_json(d)
    assert rec.arm == "control" and rec.decided_at == decision_from_json(
        {**d.model_dump(mode="json"), "decided_at": "2026-01-05T09:00:00Z"}).decided_at


def test_the_event_type_index_meets_exactly_the_metrics_the_specs_match():
    """``_met`` indexes the metrics by event type; it must agree with asking every metric, for every event."""
    metrics = dict(METRICS)
    metrics["payment_failing"] = SuccessMetric((EventSpec("payment.succeeded"),), 7 * DAY)
    # the same type both unconditional and with a ``where`` (the unconditional one wins), and two
    # conditions on one type for one metric
    metrics["either"] = SuccessMetric((read_event_spec(load_yaml_text(
        "{event: feature.used, where: {feature: {in: core}}}"), CORE), EventSpec("feature.used")), DAY)
    metrics["exports_or_search"] = SuccessMetric(tuple(read_event_spec(load_yaml_text(
        f"{{event: feature.used, where: {{feature: {f}}}}}"), CORE) for f in ("exports", "search")), DAY)
    tracker = OutcomeTracker(metrics)
    rnd = Random(8)
    kinds = ["feature.used", "session.started", "payment.succeeded", "payment.failed", "ticket.opened"]
    met_some = 0
    for i in range(2_000):
        props = {"feature": rnd.choice(["reports", "dashboards", "exports", "search", "settings", 3, None])}
        if rnd.random() < 0.2:
            props = {}
        e = ev(f"e{i}", "a", rnd.choice(kinds), i, **props)
        want = frozenset(t for t, m in metrics.items() if m.matches(e.type, e.properties))
        assert tracker._met(e) == want, (e, want)
        met_some += bool(want)
    assert met_some > 1_000
