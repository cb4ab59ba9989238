"""The true ROI against a hand computation on a tiny population, and the twins behind it in the simulator."""

from __future__ import annotations

import pytest

from forewarn.evaluate.roi_truth import true_roi
from forewarn.simulate import Simulation, SimulationConfig, SimulationError
from forewarn.simulate.counterfactual import Counterfactuals, Course
from interventions.measurement.costs import CostModel
from interventions.measurement.decisions import DecisionRecord
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, format_rfc3339

DAY = US_PER_DAY
COSTS = CostModel(monthly_revenue_per_account=100.0, months_of_revenue_per_retained_account=12.0,
                  cost_per_inbound_ticket=25.0, cost_per_contact={"email": 1.0, "csm_task": 20.0},
                  operating_cost_per_month=300.0, ticket_horizon_us=30 * DAY)
CHANNELS = {"we_miss_you": "email", "payment_outreach": "csm_task"}
UNTIL = 300 * DAY


def _d(fid, account, arm, day, intervention="we_miss_you", trigger="power_user_gone_quiet"):
    return DecisionRecord(fid, account, trigger, intervention, arm, day * DAY,
                          f"cmd-{fid}" if arm == "treated" else None)


def _tiny():
    """Five accounts; the hand computation below says what each contributes."""
    decisions = [
        _d("f1", "a1", "treated", 10),                    # kept; its twin churns on day 50
        _d("f2", "a2", "treated", 20, "payment_outreach", "payment_failing"),  # churns either way
        _d("f2b", "a2", "treated", 40, "payment_outreach", "payment_failing"),  # a 2nd decision: tickets only
        _d("f3", "a3", "control", 5),                     # first decision control: not a treated account
        _d("f3b", "a3", "treated", 30),                   # ... but its treated decision counts for tickets
        _d("f4", "a4", "treated", 15),                    # canceled on day 12, before it: left out
        _d("f5", "a5", "suppressed", 1),                  # not measured: a5's first measured one is f5b
        _d("f5b", "a5", "treated", 60),                   # kept, twin kept (churns on day 200, past 90 d)
        _d("f6", "a6", "treated", 130),                   # outside the window [0, 120 d): ignored
    ]
    factual = {
        "a1": Course(None, (11 * DAY, 45 * DAY), UNTIL),
        "a2": Course(70 * DAY, (21 * DAY, 22 * DAY, 41 * DAY), UNTIL),
        "a3": Course(None, (), UNTIL),
        "a4": Course(12 * DAY, (), UNTIL),
        "a5": Course(None, (61 * DAY,), UNTIL),
        "a6": Course(None, (), UNTIL),
    }
    untreated = {
        "cmd-f1": Course(50 * DAY, (11 * DAY, 12 * DAY, 13 * DAY, 45 * DAY), UNTIL),
        "cmd-f2": Course(65 * DAY, (21 * DAY, 22 * DAY, 25 * DAY, 41 * DAY), UNTIL),
        "cmd-f2b": Course(70 * DAY, (41 * DAY, 42 * DAY), UNTIL),
        "cmd-f3b": Course(None, (31 * DAY,), UNTIL),
        "cmd-f4": Course(12 * DAY, (), UNTIL),
        "cmd-f5b": Course(200 * DAY, (61 * DAY, 62 * DAY), UNTIL),
        "cmd-f6": Course(None, (), UNTIL),
    }
    revenue = {"a1": 100.0, "a2": 1000.0, "a3": 50.0, "a4": 70.0, "a5": 300.0, "a6": 10.0}
    return decisions, Counterfactuals(factual, untreated, {}), revenue


def test_true_roi_matches_a_hand_computation():
    decisions, truth, revenue = _tiny()
    r = true_roi(decisions, truth, revenue, COSTS, CHANNELS, since=0, until=120 * DAY)
    # Treated accounts: a1, a2, a5 (a3's first decision was control, a4 had canceled, a6 is outside).
    # Retained at 90 d with / without: a1 1/0, a2 0/0 (day 70 and 65 are within 20+90), a5 1/1.
    assert (r.treated_accounts, r.retained_treated, r.retained_untreated) == (3, 2, 1)
    assert r.retention_difference == pytest.approx(1 / 3)
    assert r.monthly_revenue == 1400.0
    assert r.retained_revenue == pytest.approx(1 / 3 * 1400 * 12)  # 5600
    # Treated decisions in the window: f1, f2, f2b, f3b, f4, f5b (6). Inbound tickets within 30 d:
    # f1 1 vs 3 (day 45 is 35 d later: out), f2 3 vs 4, f2b 1 vs 2, f3b 0 vs 1, f4 0 vs 0, f5b 1 vs 2.
    assert (r.treated_decisions, r.tickets_treated, r.tickets_untreated) == (6, 6, 12)
    assert r.avoided_ticket_cost == 6 * 25.0
    # Contacts: 4 emails at 1 + 2 CSM tasks at 20 = 44; 120 days = 3.9425 months (of 30.4375 days) at 300.
    assert r.operating_cost == pytest.approx(44 + 1182.7515, abs=1e-3)
    assert r.roi == pytest.approx(5750 / 1226.7515, abs=1e-5)  # 4.68718
    assert r.undelivered == 0


def test_true_roi_moves_with_the_counterfactual():
    """Had the twins done as well as the treated accounts, the intervention would have earned nothing."""
    decisions, truth, revenue = _tiny()
    same = Counterfactuals(truth.factual, {d.command_id: truth.factual[d.account_id] for d in decisions
                                           if d.command_id is not None}, {})
    r = true_roi(decisions, same, revenue, COSTS, CHANNELS, since=0, until=120 * DAY)
    assert r.retention_difference == 0 and r.tickets_treated == r.tickets_untreated
    assert r.roi == 0


def test_an_undelivered_command_counts_with_no_effect():
    decisions, truth, revenue = _tiny()
    untreated = {k: v for k, v in truth.untreated.items() if k != "cmd-f1"}
    r = true_roi(decisions, Counterfactuals(truth.factual, untreated, {}), revenue, COSTS, CHANNELS,
                 since=0, until=120 * DAY)
    assert r.undelivered == 1
    assert r.treated_accounts == 3 and r.retention_difference == 0  # only a1 differed
    assert (r.tickets_treated, r.tickets_untreated) == (5, 9)


def test_a_course_not_followed_long_enough_is_an_error():
    course = Course(None, (), 100 * DAY)
    with pytest.raises(SimulationError, match="followed only until"):
        course.retained(20 * DAY, 90)


# ------------------------------------------------------------------ the simulator's twins


def _payment_sim(keep_twins: bool, lift: float = 1.0) -> tuple[Simulation, list]:
    """Payment-failing accounts, each contacted an hour after its third failed payment."""
    sim = Simulation(SimulationConfig(accounts=40, days=50, seed=3, persona_weights={"payment_failing": 1},
                                      lifts={"payment_failing": lift}), keep_twins=keep_twins)
    commands = []
    for account in sim.accounts:
        third = [ts for ts, kind in account.plan.payment_trouble if kind == "payment.failed"][2]
        commands.append({"command_id": f"c-{account.account_id}", "account_id": account.account_id,
                         "trigger": "payment_failing", "intervention": "payment_outreach",
                         "decided_at": format_rfc3339(third + US_PER_HOUR)})
    sim.feed(commands)
    batches = []
    while not sim.done:
        batches.append(sim.step().records)
    return sim, batches


def test_keeping_twins_changes_nothing_the_simulation_delivers():
    plain, plain_batches = _payment_sim(keep_twins=False)
    twins, twin_batches = _payment_sim(keep_twins=True)
    assert plain_batches == twin_batches
    a, b = plain.truth(), twins.truth()
    assert (a.accounts, a.treatments, a.summary) == (b.accounts, b.treatments, b.summary)
    with pytest.raises(SimulationError, match="keep_twins=True"):
        plain.follow(90 * DAY)
    twins.follow(90 * DAY)
    c = twins.truth()
    assert (c.accounts, c.treatments, c.summary) == (b.accounts, b.treatments, b.summary)  # follow() lives copies


def test_a_twin_cancels_as_the_plan_says_and_the_rescued_account_does_not():
    sim, _ = _payment_sim(keep_twins=True, lift=1.0)
    followed = sim.follow(90 * DAY)
    commands = {c.account_id: c for c in sim.treatments}
    pending = sim.pending_commands
    assert len(followed.untreated) == len(sim.accounts) == len(commands) + pending
    churners = 0
    for account in sim.accounts:
        cid = f"c-{account.account_id}"
        twin, real = followed.untreated[cid], followed.factual[account.account_id]
        # Without the outreach nothing changes the plan: the twin cancels when the plan said, if it did.
        assert twin.canceled_at == account.plan.churn_at
        assert twin.until == real.until >= sim.calendar.day_start(sim.calendar.days)
        churners += account.plan.churn_at is not None
        if account.plan.churn_at is not None and account.plan.churn_at > followed.applied[cid] + DAY:
            assert real.canceled_at is None, f"{account.account_id}: lift 1, rescued before its cancellation"
    assert churners >= 5, "too few planned cancellations for the check to mean anything"
    # The payment trouble ends at the rescue, so the treated accounts open fewer billing tickets.
    with_it = sum(len(c.inbound_tickets) for c in followed.factual.values())
    without = sum(len(c.inbound_tickets) for c in followed.untreated.values())
    assert with_it < without
