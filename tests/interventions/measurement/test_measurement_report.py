"""The report's numbers against planted truth, and the ROI against a hand computation."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from measurement_synth import START, World, generate, write_files

from interventions.measurement.costs import CostModel
from interventions.measurement.decisions import DecisionRecord, read_decisions
from interventions.measurement.history import EventFileStats, read_events
from interventions.measurement.receipts import ReceiptBook
from interventions.measurement.report import build_report
from schemas.catalogue import SuccessMetric
from schemas.event import Event
from schemas.predicate import EventSpec
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, format_rfc3339

DAY = US_PER_DAY
METRICS = {"payment_failing": SuccessMetric((EventSpec("payment.succeeded"),), 7 * DAY)}
CHANNELS = {"payment_outreach": "csm_task"}


def report_of(world: World, **kw):
    decisions, events = generate(world)
    return build_report(decisions, events, METRICS, CHANNELS, since=START, until=world.until, **kw)


# ------------------------------------------------------------ planted effects


@pytest.mark.parametrize("seed", [1, 2])
def test_intervals_cover_the_planted_effects(seed):
    world = World(seed=seed)
    j = report_of(world).to_json()
    trigger = j["triggers"][0]
    low, high = trigger["uplift_interval"]
    assert low <= world.true_uplift <= high
    assert low > 0  # the planted effect is large enough to be seen
    ret = j["retention"]["at_horizon"]
    assert ret["interval"][0] <= world.true_retention_difference(90) <= ret["interval"][1]
    assert ret["interval"][0] > 0
    # Time to resolution: the planted medians are 20 h inbound and 2.5 h proactive.
    ttr = j["time_to_resolution"]
    assert ttr["inbound"]["median_hours"] == pytest.approx(20.0, rel=0.1)
    assert ttr["proactive"]["median_hours"] == pytest.approx(2.5, rel=0.15)
    assert ttr["proactive"]["p90_hours"] < ttr["inbound"]["median_hours"]


@pytest.mark.parametrize("seed", [3, 4])
def test_with_no_planted_effect_the_intervals_cover_zero(seed):
    world = World(seed=seed, lift=0.0, hazard_ratio=1.0, ticket_ratio=1.0)
    j = report_of(world).to_json()
    low, high = j["triggers"][0]["uplift_interval"]
    assert low <= 0.0 <= high
    lo, hi = j["retention"]["at_horizon"]["interval"]
    assert lo <= 0.0 <= hi
    lo, hi = j["tickets"]["per_decision_within_horizon"]["avoided_interval"]
    assert lo <= 0.0 <= hi


def test_uplift_interval_coverage_over_many_seeds():
    """Calibration, not luck: over 30 seeds a 95 % interval should miss the truth about 1.5 times."""
    covered = 0
    for seed in range(100, 130):
        world = World(accounts=300, days=60, decide_days=30, seed=seed)
        ci = report_of(world).to_json()["triggers"][0]["uplift_interval"]
        covered += ci[0] <= world.true_uplift <= ci[1]
    # P(7 or more misses | 95 % coverage) < 0.1 %.
    assert covered >= 24


def test_small_samples_give_not_enough_data():
    world = World(accounts=40, seed=5)
    t = report_of(world, minimum_per_arm=30).to_json()["triggers"][0]
    assert t["uplift"] is None and t["uplift_interval"] is None
    assert t["reason"].startswith("not enough data:")
    assert t["treated"]["rate"] is not None  # each arm's own rate is still shown


def test_files_give_the_same_report_as_memory(tmp_path):
    world = World(accounts=300, seed=6)
    decisions, events = generate(world)
    ev_path, dec_path = write_files(decisions, events, tmp_path)
    with ev_path.open("ab") as fh:
        fh.write(b"{broken\n")
    stats = EventFileStats()
    from_files = build_report(list(read_decisions(dec_path)), read_events(ev_path, stats), METRICS, CHANNELS,
                              since=START, until=world.until, event_stats=stats).to_json()
    in_memory = build_report(decisions, events, METRICS, CHANNELS, since=START, until=world.until).to_json()
    assert from_files["triggers"] == in_memory["triggers"]
    assert from_files["retention"] == in_memory["retention"]
    assert from_files["inputs"]["malformed_lines"] == {"invalid_json": 1}


# ------------------------------------------------------------ ROI by hand


def _hand_world():
    """40 treated and 40 control accounts decided on day 5, followed to day 120."""
    decisions, events = [], []
    for i in range(80):
        arm = "treated" if i < 40 else "control"
        k = i if i < 40 else i - 40
        account = f"a{i}"
        decisions.append(DecisionRecord(f"f{i}", account, "payment_failing", "payment_outreach", arm, 5 * DAY,
                                        f"c{i}" if arm == "treated" else None))
        churns = k < (4 if arm == "treated" else 12)
        if churns:
            events.append(Event(f"x{i}", account, "subscription.canceled", 15 * DAY))
        tickets = k < (10 if arm == "treated" else 20)
        if tickets:
            events.append(Event(f"t{i}", account, "ticket.opened", 10 * DAY, None,
                                {"ticket_id": f"T{i}", "origin": "inbound"}))
            events.append(Event(f"r{i}", account, "ticket.resolved", 10 * DAY + 4 * US_PER_HOUR, None,
                                {"ticket_id": f"T{i}"}))
        # A redelivered cancellation and ticket must not count twice.
        if churns and k == 0:
            events.append(Event(f"x{i}", account, "subscription.canceled", 15 * DAY))
        if tickets and k == 1:
            events.append(Event(f"t{i}", account, "ticket.opened", 10 * DAY, None,
                                {"ticket_id": f"T{i}", "origin": "inbound"}))
    # The history was seen to day 120: the report follows no one past the last event.
    events.append(Event("seen-to-120", "observer", "session.started", 120 * DAY - 1))
    return decisions, events


COSTS = CostModel(monthly_revenue_per_account=100.0, months_of_revenue_per_retained_account=12.0,
                  cost_per_inbound_ticket=25.0, cost_per_contact={"csm_task": 2.0},
                  operating_cost_per_month=300.0, ticket_horizon_us=30 * DAY)


def test_roi_matches_a_hand_computation():
    decisions, events = _hand_world()
    report = build_report(decisions, events, METRICS, CHANNELS, costs=COSTS, since=0, until=120 * DAY,
                          minimum_per_arm=30, minimum_at_risk=10)
    roi = report.to_json()["roi"]
    # Retention at day 90: treated 36/40, control 28/40, so 0.2 more of the treated stay.
    retained_revenue = (36 / 40 - 28 / 40) * (40 * 100.0) * 12          # 9,600
    # Inbound tickets within 30 days: treated 10/40, control 20/40 per decision; 0.25 avoided x 40 decisions.
    avoided_ticket_cost = (20 / 40 - 10 / 40) * 40 * 25.0                 # 250
    months = 120 / (365.25 / 12)
    operating_cost = 40 * 2.0 + months * 300.0                            # 80 + 1,182.75
    assert roi["retained_revenue"] == pytest.approx(retained_revenue)
    assert roi["avoided_ticket_cost"] == pytest.approx(avoided_ticket_cost)
    assert roi["operating_cost"] == pytest.approx(operating_cost)
    assert roi["roi"] == pytest.approx((retained_revenue + avoided_ticket_cost) / operating_cost)
    assert roi["roi"] == pytest.approx(7.8004, abs=1e-4)
    assert roi["roi_range"][0] < roi["roi"] < roi["roi_range"][1]
    assert report.to_json()["costs"]["cost_per_contact"] == {"csm_task": 2.0}


def test_roi_uses_each_accounts_revenue_when_configured():
    decisions, events = _hand_world()
    # Treated accounts 0-19 pay 50 a month, 20-39 pay 150: the sum equals the flat 40 x 100.
    for i in range(40):
        events.append(Event(f"p{i}", f"a{i}", "payment.succeeded", 1 * DAY, None,
                            {"amount_usd": 50 if i < 20 else 150}))
    events.append(Event("p-late", "a0", "payment.succeeded", 50 * DAY, None, {"amount_usd": 10_000}))
    from interventions.measurement.costs import RevenueSource

    costs = replace(COSTS, monthly_revenue_from=RevenueSource("payment.succeeded", "amount_usd"),
                    monthly_revenue_per_account=1.0)
    inputs = build_report(decisions, events, METRICS, CHANNELS, costs=costs, since=0,
                          until=120 * DAY).roi.inputs
    # The latest payment *before* the decision counts: a0's later 10,000 is not its revenue then.
    assert inputs.treated_monthly_revenue == pytest.approx(20 * 50 + 20 * 150)


def test_roi_waits_for_the_differences():
    decisions, events = _hand_world()
    short = build_report(decisions, events, METRICS, CHANNELS, costs=COSTS, since=0, until=60 * DAY).roi
    assert short.roi is None and "retention difference is not measurable" in short.reason


def test_receipts_count_deliveries_of_treated_decisions():
    decisions, events = _hand_world()
    book = ReceiptBook()
    for i in range(40):
        book.add({"command_id": f"c{i}", "outcome": "delivered" if i < 35 else "failed"})
    j = build_report(decisions, events, METRICS, CHANNELS, receipts=book, since=0, until=120 * DAY).to_json()
    assert j["triggers"][0]["delivery"] == {"delivered": 35, "failed": 5, "expired": 0, "no_receipt": 0}


def test_weekly_tickets_per_active_account():
    events = []
    # Two whole weeks from Monday 2026-01-05: week 1 has 4 active accounts and 2 inbound tickets,
    # week 2 has 2 active accounts and 3 inbound tickets (and a proactive one, not counted).
    for a in range(4):
        events.append(Event(f"s{a}", f"a{a}", "session.started", START + DAY))
    for a in range(2):
        events.append(Event(f"s2{a}", f"a{a}", "feature.used", START + 8 * DAY, None, {"feature": "x"}))
    for n, (day, origin) in enumerate([(2, "inbound"), (3, None), (9, "inbound"), (10, "inbound"),
                                       (11, "inbound"), (12, "proactive")]):
        props = {"ticket_id": f"T{n}"} | ({"origin": origin} if origin else {})
        events.append(Event(f"t{n}", "a0", "ticket.opened", START + day * DAY, None, props))
    events.append(Event("s-last", "a0", "feature.used", START + 14 * DAY - 1, None, {"feature": "x"}))  # seen to the end
    j = build_report([], events, METRICS, CHANNELS, since=START, until=START + 14 * DAY).to_json()
    weeks = j["tickets"]["weeks"]
    assert [(w["week_start"], w["inbound_tickets"], w["active_accounts"]) for w in weeks] == [
        ("2026-01-05", 2, 4), ("2026-01-12", 3, 2)]
    assert weeks[1]["proactive_tickets"] == 1
    assert j["tickets"]["inbound_per_active_account_per_week"] == pytest.approx((2 / 4 + 3 / 2) / 2)
    assert not any(w["partial"] for w in weeks)
    assert math.isclose(j["window"]["days"], 14.0)


def test_a_decision_published_twice_counts_once():
    """The policy's outbox republishes after a crash, so a decision log read from Kafka can hold repeats:
    counts, costs, ROI and ticket samples must be those of the log without them, the repeats reported."""
    decisions, events = _hand_world()
    once = build_report(decisions, events, METRICS, CHANNELS, since=0, until=120 * DAY).to_json()
    twice = build_report(decisions + decisions[::3], events, METRICS, CHANNELS, since=0, until=120 * DAY).to_json()
    assert twice["inputs"].pop("duplicate_decisions") == once["inputs"].pop("duplicate_decisions") + \
        len(decisions[::3])
    assert twice == once


def test_unresolved_tickets_are_counted_for_the_same_window_as_the_resolution_times():
    from interventions.measurement.tickets import TicketLedger

    ledger = TicketLedger()
    opened = [("old", 0), ("in", 10 * DAY), ("done", 11 * DAY)]
    for ticket, ts in opened:
        ledger.observe(Event(f"o-{ticket}", "acct-1", "ticket.opened", ts, None, {"ticket_id": ticket}))
    ledger.observe(Event("r-done", "acct-1", "ticket.resolved", 12 * DAY, None, {"ticket_id": "done"}))
    assert ledger.resolution_hours(5 * DAY, 20 * DAY)["inbound"] == [24.0]
    assert ledger.unresolved(5 * DAY, 20 * DAY)["inbound"] == 1, "a ticket opened before the window counted"
    assert ledger.unresolved()["inbound"] == 2


# ------------------------------------------------------------ the window's end


def test_an_until_after_the_data_ends_just_after_the_last_event():
    """Nothing was seen after the last event: an --until 155 days later must not follow anyone through them
    (censoring, day-90 at-risk counts, windows closing as failures, ticket horizons, months of operating cost)."""
    world = World(accounts=300, days=45, decide_days=30, seed=2)
    decisions, events = generate(world)
    last = max(e.ts for e in events)
    costs = replace(COSTS, cost_per_contact={"csm_task": 2.0})
    default = build_report(decisions, events, METRICS, CHANNELS, costs=costs, since=START).to_json()
    late = build_report(decisions, events, METRICS, CHANNELS, costs=costs, since=START,
                        until=START + 200 * DAY).to_json()
    assert late["window"].pop("until_requested") == "2026-07-24T00:00:00Z"
    assert "after the last event" in late["window"].pop("note")
    assert late == default
    assert default["window"]["until"] == format_rfc3339(last + 1) and "note" not in default["window"]
    assert default["retention"]["at_horizon"]["treated_at_risk"] == 0
    assert default["roi"]["inputs"]["window_months"] == pytest.approx((last + 1 - START) / DAY / (365.25 / 12))


@pytest.mark.parametrize("since, until", [
    (START + 20 * DAY, START + 10 * DAY),    # --since after --until
    (None, START - 400 * DAY),               # --until before the data
    (START + 400 * DAY, None),               # --since after the data
])
def test_a_window_that_ends_before_it_starts_is_refused(since, until):
    from interventions.measurement.errors import WindowError

    decisions, events = generate(World(accounts=50, days=30, seed=2))
    with pytest.raises(WindowError, match="empty window") as refused:
        build_report(decisions, events, METRICS, CHANNELS, since=since, until=until)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("horizon", [float("inf"), float("nan"), 0.5, 3654.0, 1e7])
def test_a_retention_horizon_out_of_range_is_refused_before_any_work(horizon):
    """``--horizon-days inf`` drew its curves point by point without end (21 GB before the kernel killed it)."""
    from interventions.measurement.errors import WindowError

    def events():
        raise AssertionError("the events were read before the horizon was checked")
        yield

    with pytest.raises(WindowError, match="give --horizon-days from 1 to 3653") as refused:
        build_report([], events(), METRICS, CHANNELS, horizon_days=horizon)
    assert "\n" not in str(refused.value)


def test_the_longest_retention_horizon_is_accepted():
    decisions, events = generate(World(accounts=50, days=30, seed=2))
    j = build_report(decisions, events, METRICS, CHANNELS, horizon_days=3653).to_json()
    assert j["retention"]["horizon_days"] == 3653


@pytest.mark.parametrize("order", [1, -1])
def test_a_ticket_opened_twice_counts_once_per_decision(order):
    """Two ticket.opened events of one ticket under different event ids — the later-arriving one with the
    earlier time — are one ticket in the per-decision figures too, whatever their arrival order."""
    from interventions.measurement.tickets import TicketLedger

    opened = [Event("o-late", "a1", "ticket.opened", 3 * DAY, None, {"ticket_id": "T1", "origin": "inbound"}),
              Event("o-early", "a1", "ticket.opened", 2 * DAY, None, {"ticket_id": "T1", "origin": "inbound"})]
    ledger = TicketLedger(track_accounts={"a1"})
    for e in opened[::order]:
        ledger.observe(e)
    assert dict(ledger.inbound_times) == {"a1": [2 * DAY]}
    decisions = [DecisionRecord("f1", "a1", "payment_failing", "payment_outreach", "treated", DAY)]
    events = opened[::order] + [Event("end", "a9", "session.started", 60 * DAY)]
    j = build_report(decisions, events, METRICS, CHANNELS, since=0).to_json()
    assert j["tickets"]["per_decision_within_horizon"]["treated"] == {"decisions": 1, "mean": 1.0}
