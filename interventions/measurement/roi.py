"""Return on investment: (retained revenue + avoided ticket cost) / operating cost.

Each term is built from a measured difference and a money input of the
``costs:`` section, and every step is kept so the report can show its working:

* retained revenue = (treated − control retention at the horizon)
  × the treated accounts' monthly revenue, summed × months of revenue a
  retained account is worth;
* avoided ticket cost = (control − treated inbound tickets per decision
  within the ticket horizon) × treated decisions × cost per inbound ticket;
* operating cost = Σ over treated decisions of the contact cost of the
  intervention's channel + operating cost per month × months in the window.

The range beside the ROI puts both differences at the ends of their 95 %
intervals together — a deliberately wide band, not a confidence interval.

>>> roi = compute_roi(RoiInputs(retention_difference=0.05, retention_interval=(0.01, 0.09),
...     treated_accounts=100, treated_monthly_revenue=10_000.0, months_per_retained_account=12,
...     tickets_avoided_per_decision=0.2, tickets_interval=(0.0, 0.4), treated_decisions=150,
...     cost_per_inbound_ticket=25.0, contact_cost=300.0, window_months=3.0, operating_cost_per_month=400.0))
>>> roi.retained_revenue, roi.avoided_ticket_cost, roi.operating_cost, round(roi.roi, 4)
(6000.0, 750.0, 1500.0, 4.5)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["RoiInputs", "Roi", "compute_roi", "DAYS_PER_MONTH"]

#: An average calendar month, for turning a window's length into months of operating cost.
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True, slots=True)
class RoiInputs:
    """The measured differences and the money inputs, exactly as they enter the formula."""

    retention_difference: float | None
    retention_interval: tuple[float, float] | None
    treated_accounts: int
    treated_monthly_revenue: float
    months_per_retained_account: float
    tickets_avoided_per_decision: float | None
    tickets_interval: tuple[float, float] | None
    treated_decisions: int
    cost_per_inbound_ticket: float
    contact_cost: float
    window_months: float
    operating_cost_per_month: float


@dataclass(frozen=True, slots=True)
class Roi:
    """The ROI and its terms; ``roi`` is None when ``reason`` says why it cannot be computed."""

    inputs: RoiInputs
    retained_accounts: float | None
    retained_revenue: float | None
    avoided_tickets: float | None
    avoided_ticket_cost: float | None
    operating_cost: float
    roi: float | None
    roi_range: tuple[float, float] | None
    reason: str | None = None

    def to_json(self) -> dict:
        out = asdict(self)
        out["inputs"] = asdict(self.inputs)
        return out


def compute_roi(x: RoiInputs) -> Roi:
    """Apply the formula of the module docstring; a missing difference gives ``roi=None`` with the reason."""
    operating = x.contact_cost + x.window_months * x.operating_cost_per_month
    per_retained = x.treated_monthly_revenue * x.months_per_retained_account
    retained_accounts = retained_revenue = None
    if x.retention_difference is not None:
        retained_accounts = x.retention_difference * x.treated_accounts
        retained_revenue = x.retention_difference * per_retained
    avoided = avoided_cost = None
    if x.tickets_avoided_per_decision is not None:
        avoided = x.tickets_avoided_per_decision * x.treated_decisions
        avoided_cost = avoided * x.cost_per_inbound_ticket
    reasons = []
    if retained_revenue is None:
        reasons.append("the retention difference is not measurable yet")
    if avoided_cost is None:
        reasons.append("the ticket difference is not measurable yet")
    if operating <= 0:
        reasons.append("the operating cost is 0; set costs.cost_per_contact or costs.operating_cost_per_month")
    if reasons:
        return Roi(x, retained_accounts, retained_revenue, avoided, avoided_cost, operating, None, None,
                   "; ".join(reasons))
    value = (retained_revenue + avoided_cost) / operating
    band = None
    if x.retention_interval is not None and x.tickets_interval is not None:
        def at(r: float, t: float) -> float:
            return (r * per_retained + t * x.treated_decisions * x.cost_per_inbound_ticket) / operating
        band = (at(x.retention_interval[0], x.tickets_interval[0]), at(x.retention_interval[1], x.tickets_interval[1]))
    return Roi(x, retained_accounts, retained_revenue, avoided, avoided_cost, operating, value, band)
