"""The measurement's Prometheus gauges: values from a report and from live verdicts, bounded labels."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from interventions.measurement.decisions import DecisionRecord
from interventions.measurement.outcomes import Outcome
from streams.outcomes import OutcomeGauges

REPORT = {
    "triggers": [
        {"trigger": "payment_failing", "treated": {"rate": 0.5, "decisions": 40},
         "control": {"rate": 0.25, "decisions": 12}},
        {"trigger": "from_another_config", "treated": {"rate": 0.9, "decisions": 10},
         "control": {"rate": None, "decisions": 0}},
    ],
    "tickets": {"inbound_per_active_account_per_week": 0.12, "weeks": [
        {"inbound_per_active_account": 0.2, "partial": False},
        {"inbound_per_active_account": 0.1, "partial": False},
        {"inbound_per_active_account": 0.05, "partial": True},
    ]},
    "time_to_resolution": {"inbound": {"median_hours": 20.0, "p90_hours": 50.0},
                           "proactive": {"median_hours": 2.5, "p90_hours": None}},
}


def test_gauges_from_a_report():
    g = OutcomeGauges(CollectorRegistry(), triggers=["payment_failing", "onboarding_stalled"])
    g.set_report(REPORT)
    assert g.value("forewarn_outcome_success_ratio", trigger="payment_failing", arm="control") == 0.25
    assert g.value("forewarn_outcome_decisions", trigger="payment_failing", arm="treated") == 40
    assert g.value("forewarn_inbound_tickets_per_active_account") == pytest.approx(0.12)
    assert g.value("forewarn_inbound_tickets_per_active_account_last_week") == pytest.approx(0.1)
    assert g.value("forewarn_time_to_resolution_seconds", origin="proactive", percentile="50") == 2.5 * 3600
    assert g.value("forewarn_time_to_resolution_seconds", origin="proactive", percentile="90") is None
    # A trigger the config does not know mints no label values.
    text = g.exposition().decode()
    assert "from_another_config" not in text
    assert 'forewarn_outcome_decisions{arm="control",trigger="onboarding_stalled"} 0.0' in text


def test_gauges_from_live_verdicts():
    g = OutcomeGauges(CollectorRegistry(), triggers=["payment_failing"])
    for i, success in enumerate([True, False, False, True, None]):
        d = DecisionRecord(f"f{i}", f"a{i}", "payment_failing", "x", "treated", 0)
        g.record(Outcome(d, success, None, 1))
    g.record(Outcome(DecisionRecord("f9", "a9", "other", "x", "treated", 0), True, None, 1))
    assert g.value("forewarn_outcome_success_ratio", trigger="payment_failing", arm="treated") == 0.5
    assert g.value("forewarn_outcome_decisions", trigger="payment_failing", arm="treated") == 4
    assert "other" not in g.exposition().decode()


def test_monitor_judges_decisions_that_trail_their_events():
    from schemas.catalogue import SuccessMetric
    from schemas.event import Event
    from schemas.predicate import EventSpec
    from streams.outcomes import OutcomeMonitor

    day = 86_400_000_000
    g = OutcomeGauges(CollectorRegistry(), triggers=["payment_failing"])
    m = OutcomeMonitor(g, {"payment_failing": SuccessMetric((EventSpec("payment.succeeded"),), 7 * day)},
                       lookback_us=day)
    # a1 pays an hour after its firing; the decision arrives after that event, as it does live.
    m.events([Event("e1", "a1", "payment.succeeded", 10 * day + 3_600_000_000)])
    m.decisions([DecisionRecord("f1", "a1", "payment_failing", "x", "control", 10 * day),
                 DecisionRecord("f2", "a2", "payment_failing", "x", "control", 10 * day)])
    m.advance(16 * day)
    # both windows are still open: a1's early success is held, so nothing counts yet
    assert g.value("forewarn_outcome_decisions", trigger="payment_failing", arm="control") == 0
    m.advance(17 * day)  # both windows close: a1 succeeded, a2 did not pay
    assert g.value("forewarn_outcome_success_ratio", trigger="payment_failing", arm="control") == 0.5
    assert g.value("forewarn_outcome_decisions", trigger="payment_failing", arm="control") == 2


def test_the_live_ratio_counts_closed_windows_only_like_the_report():
    """Successes are known when they happen, failures only when a window closes: counting successes at
    once would put the ratio above the truth while windows are open (1.0 on the first days here)."""
    import random

    from schemas.catalogue import SuccessMetric
    from schemas.event import Event
    from schemas.predicate import EventSpec
    from streams.outcomes import OutcomeMonitor

    day = 86_400_000_000
    g = OutcomeGauges(CollectorRegistry(), triggers=["payment_failing"])
    m = OutcomeMonitor(g, {"payment_failing": SuccessMetric((EventSpec("payment.succeeded"),), 14 * day)})
    rnd = random.Random(4)
    closed = successes = 0
    outcomes: list[tuple[int, bool]] = []  # (window end, succeeded) of every decision
    for d in range(40):
        decided = d * day
        m.advance(decided)
        batch = []
        for i in range(20):
            fid = f"f{d}-{i}"
            batch.append(DecisionRecord(fid, f"a{d}-{i}", "payment_failing", "x", "treated", decided))
        m.decisions(batch)
        for i in range(20):
            paid = rnd.random() < 0.3
            outcomes.append((decided + 14 * day, paid))
            if paid:
                m.events([Event(f"e{d}-{i}", f"a{d}-{i}", "payment.succeeded", decided + rnd.randrange(1, 13) * day)])
        done = [paid for end, paid in outcomes if end <= decided]
        if len(done) != closed:
            closed, successes = len(done), sum(done)
        if closed:
            assert g.value("forewarn_outcome_decisions", trigger="payment_failing", arm="treated") == closed
            assert g.value("forewarn_outcome_success_ratio", trigger="payment_failing", arm="treated") == \
                successes / closed
        else:
            assert g.value("forewarn_outcome_decisions", trigger="payment_failing", arm="treated") == 0
