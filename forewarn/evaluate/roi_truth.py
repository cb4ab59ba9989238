"""The true ROI of a closed-loop run: the report's ROI with the simulator's counterfactual in place of its estimates.

The impact report estimates ROI = (retained revenue + avoided ticket cost) /
operating cost (``interventions.measurement.roi``) from treated-versus-control
differences. Here is the same quantity, for the same window and the same
decisions, with each difference read from the simulator's twins
(``forewarn.simulate.counterfactual``) instead of estimated from a control group:

* the treated accounts are chosen as the report's retention does: each
  account's first treated-or-control decision in the window, kept when its arm
  is treated and the account had not canceled before it;
* the retention difference is the mean, over those accounts, of *retained at
  the horizon* minus *retained at the horizon without the intervention*, every
  account followed for the full horizon (the report's Kaplan–Meier curves
  estimate this from follow-up cut short by the end of the window);
* retained revenue = that difference × their monthly revenue, summed (the
  simulator's MRR of each account) × months of revenue per retained account;
* avoided tickets = the sum over the treated decisions in the window of the
  inbound tickets without the intervention minus with it, within the ticket
  horizon after the decision, every decision followed for the full horizon;
* operating cost = the contact cost of each treated decision's channel + the
  window in months × operating cost per month: nothing is estimated in it.

The arithmetic is written out here rather than taken from ``compute_roi``, so
the check does not share the code it checks.

A treated decision whose command never reached the simulated customer had no
effect: it counts, with a difference of 0 (tickets and, for an account's first
decision, retention), and is counted in ``undelivered``.

>>> DAY = 86_400_000_000
>>> costs = CostModel(monthly_revenue_per_account=100.0, months_of_revenue_per_retained_account=12.0,
...     cost_per_inbound_ticket=25.0, cost_per_contact={"email": 0.1}, operating_cost_per_month=300.0)
>>> d = DecisionRecord("f1", "a1", "power_user_gone_quiet", "we_miss_you", "treated", DAY, "c1")
>>> truth = Counterfactuals({"a1": Course(None, (), 200 * DAY)},             # kept, no ticket
...                         {"c1": Course(50 * DAY, (2 * DAY,), 200 * DAY)},  # its twin: a ticket, then gone
...                         {"c1": DAY})
>>> r = true_roi([d], truth, {"a1": 120.0}, costs, {"we_miss_you": "email"}, since=0, until=100 * DAY)
>>> r.retention_difference, r.retained_revenue, r.avoided_ticket_cost, round(r.roi, 3)
(1.0, 1440.0, 25.0, 1.486)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from forewarn.simulate.counterfactual import Counterfactuals, Course
from interventions.measurement.costs import CostModel
from interventions.measurement.decisions import DecisionRecord
from interventions.measurement.roi import DAYS_PER_MONTH
from schemas.timefmt import US_PER_DAY

__all__ = ["TrueRoi", "true_roi"]


@dataclass(frozen=True, slots=True)
class TrueRoi:
    """The ROI's terms as the simulator knows them; ``roi`` is None without treated accounts or cost."""

    treated_accounts: int
    retained_treated: int
    retained_untreated: int
    retention_difference: float | None
    monthly_revenue: float
    retained_revenue: float | None
    treated_decisions: int
    tickets_treated: int
    tickets_untreated: int
    avoided_per_decision: float | None
    avoided_ticket_cost: float
    operating_cost: float
    roi: float | None
    undelivered: int

    def to_json(self) -> dict:
        return asdict(self)


def _first_decisions(window: list[DecisionRecord]) -> dict[str, DecisionRecord]:
    first: dict[str, DecisionRecord] = {}
    for d in window:
        if d.arm not in ("treated", "control"):
            continue
        best = first.get(d.account_id)
        if best is None or (d.decided_at, d.firing_id) < (best.decided_at, best.firing_id):
            first[d.account_id] = d
    return first


def true_roi(decisions: Iterable[DecisionRecord], truth: Counterfactuals, revenue: Mapping[str, float],
             costs: CostModel, channels: Mapping[str, str], since: int, until: int,
             horizon_days: float = 90.0) -> TrueRoi:
    """The true ROI over decisions made in ``[since, until)``; ``revenue``: account → monthly revenue,
    ``channels``: intervention → channel. See the module docstring for each term."""
    window = [d for d in decisions if since <= d.decided_at < until]
    undelivered = 0

    def courses(d: DecisionRecord) -> tuple[Course, Course] | None:
        untreated = truth.untreated.get(d.command_id or "")
        if untreated is None:
            return None
        return truth.factual[d.account_id], untreated

    kept = kept_without = accounts = 0
    money = 0.0
    for account, d in sorted(_first_decisions(window).items()):
        if d.arm != "treated":
            continue
        pair = courses(d)
        if pair is None:
            accounts += 1
            money += revenue[account]
            continue  # no intervention reached it: retained or not, the same either way
        factual, untreated = pair
        if factual.canceled_at is not None and factual.canceled_at < d.decided_at:
            continue
        accounts += 1
        money += revenue[account]
        kept += factual.retained(d.decided_at, horizon_days)
        kept_without += untreated.retained(d.decided_at, horizon_days)
    difference = (kept - kept_without) / accounts if accounts else None
    retained_revenue = None if difference is None else \
        difference * money * costs.months_of_revenue_per_retained_account

    treated = [d for d in window if d.arm == "treated"]
    with_it = without_it = 0
    for d in treated:
        pair = courses(d)
        if pair is None:
            undelivered += 1
            continue
        end = d.decided_at + costs.ticket_horizon_us
        with_it += pair[0].tickets(d.decided_at, end)
        without_it += pair[1].tickets(d.decided_at, end)
    avoided_cost = (without_it - with_it) * costs.cost_per_inbound_ticket

    contact = sum(costs.cost_per_contact.get(channels.get(d.intervention, ""), 0.0) for d in treated)
    operating = contact + (until - since) / US_PER_DAY / DAYS_PER_MONTH * costs.operating_cost_per_month
    roi = None
    if retained_revenue is not None and operating > 0:
        roi = (retained_revenue + avoided_cost) / operating
    return TrueRoi(
        treated_accounts=accounts, retained_treated=kept, retained_untreated=kept_without,
        retention_difference=difference, monthly_revenue=money, retained_revenue=retained_revenue,
        treated_decisions=len(treated), tickets_treated=with_it, tickets_untreated=without_it,
        avoided_per_decision=(without_it - with_it) / len(treated) if treated else None,
        avoided_ticket_cost=avoided_cost, operating_cost=operating, roi=roi, undelivered=undelivered,
    )
