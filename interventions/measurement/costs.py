"""The ``costs:`` section of the config: every money input of the impact report's ROI.

ROI = (retained revenue + avoided ticket cost) / operating cost. A support
lead must be able to see, and argue with, every number that goes into it, so
each is written in the config, shown in the report, and nothing is assumed::

    costs:
      currency: USD
      monthly_revenue_per_account: 120       # what a retained account pays per month
      monthly_revenue_from: {event: payment.succeeded, property: amount_usd}  # optional, per account
      months_of_revenue_per_retained_account: 12
      cost_per_inbound_ticket: 25            # handling one inbound ticket
      ticket_horizon: 30d                    # avoided tickets are counted this long after a decision
      cost_per_contact: {email: 0.05, csm_task: 30}   # one contact, by channel
      operating_cost_per_month: 400          # running Forewarn itself

With ``monthly_revenue_from``, an account's monthly revenue is the named
property of its latest such event before the decision (e.g. its last
successful payment); accounts without one count at ``monthly_revenue_per_account``.
Every channel an intervention uses needs a ``cost_per_contact``: a free
channel is written as 0, not left out.

>>> from schemas.config_yaml import load_yaml_text
>>> node = load_yaml_text('''
... monthly_revenue_per_account: 120
... months_of_revenue_per_retained_account: 12
... cost_per_inbound_ticket: 25
... cost_per_contact: {email: 0.05}
... operating_cost_per_month: 400
... ''', "forewarn.yaml")
>>> costs = parse_costs(node, {})
>>> costs.currency, costs.ticket_horizon_us // 86_400_000_000, costs.contact_cost("email")
('USD', 30, 0.05)
>>> parse_costs(load_yaml_text("cost_per_inbound_ticket: 25", "f.yaml"), {})
Traceback (most recent call last):
...
schemas.config_yaml.ConfigError: f.yaml:1:1: missing required key 'monthly_revenue_per_account'; add e.g. monthly_revenue_per_account: 120
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.catalogue import NAME_RE, InterventionSpec
from schemas.config_yaml import Node, Section, format_duration
from schemas.predicate import EVENT_TYPE_RE
from schemas.timefmt import US_PER_DAY

__all__ = ["RevenueSource", "CostModel", "parse_costs", "COSTS_SECTION"]

_KEYS = [
    "currency",
    "monthly_revenue_per_account",
    "monthly_revenue_from",
    "months_of_revenue_per_retained_account",
    "cost_per_inbound_ticket",
    "ticket_horizon",
    "cost_per_contact",
    "operating_cost_per_month",
]
_REQUIRED = [
    "monthly_revenue_per_account",
    "months_of_revenue_per_retained_account",
    "cost_per_inbound_ticket",
    "cost_per_contact",
    "operating_cost_per_month",
]
_EXAMPLES = {
    "monthly_revenue_per_account": "120",
    "months_of_revenue_per_retained_account": "12",
    "cost_per_inbound_ticket": "25",
    "cost_per_contact": "{email: 0.05, csm_task: 30}",
    "operating_cost_per_month": "400",
}
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_PROPERTY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class RevenueSource:
    """Read an account's monthly revenue from a property of its latest event of a type."""

    event: str
    property: str

    def describe(self) -> str:
        return f"{self.property} of the account's latest {self.event}"


@dataclass(frozen=True, slots=True)
class CostModel:
    """Every money input of the ROI, in ``currency``; see the module docstring for each field's meaning."""

    monthly_revenue_per_account: float
    months_of_revenue_per_retained_account: float
    cost_per_inbound_ticket: float
    cost_per_contact: Mapping[str, float]
    operating_cost_per_month: float
    currency: str = "USD"
    ticket_horizon_us: int = 30 * US_PER_DAY
    monthly_revenue_from: RevenueSource | None = None
    source: str = field(default="", compare=False)

    def contact_cost(self, channel: str) -> float:
        return self.cost_per_contact[channel]

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "monthly_revenue_per_account": self.monthly_revenue_per_account,
            "monthly_revenue_from": None if self.monthly_revenue_from is None else {
                "event": self.monthly_revenue_from.event, "property": self.monthly_revenue_from.property},
            "months_of_revenue_per_retained_account": self.months_of_revenue_per_retained_account,
            "cost_per_inbound_ticket": self.cost_per_inbound_ticket,
            "ticket_horizon": format_duration(self.ticket_horizon_us),
            "cost_per_contact": dict(sorted(self.cost_per_contact.items())),
            "operating_cost_per_month": self.operating_cost_per_month,
            "source": self.source,
        }


def _money(node: Node, example: str) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise node.error(f"expected an amount of money, got {value!r}; write a plain number, e.g. {example}")
    try:
        amount = float(value)  # a whole number past 1.8e308 does not fit (math.isfinite would raise too)
    except OverflowError:
        amount = math.inf
    if not math.isfinite(amount):
        shown = value if isinstance(value, float) else f"{str(value)[:12]}… ({len(str(value))} digits)"
        raise node.error(f"{shown} is not a finite amount of money (.nan, .inf and numbers past 1.8e308 are not "
                         f"amounts); write a plain number, e.g. {example}")
    if amount < 0:
        raise node.error(f"{value} is negative; money amounts are 0 or more")
    return amount


def _revenue_source(node: Node) -> RevenueSource:
    spec = node.as_map("{event: payment.succeeded, property: amount_usd}")
    spec.check_keys(["event", "property"], required=["event", "property"],
                    examples={"event": "payment.succeeded", "property": "amount_usd"})
    return RevenueSource(
        spec.require("event").as_str(pattern=EVENT_TYPE_RE, what="event type", example="payment.succeeded"),
        spec.require("property").as_str(pattern=_PROPERTY_RE, what="property name", example="amount_usd"),
    )


def parse_costs(node: Node, parsed: Mapping[str, Any]) -> CostModel:
    """Read the ``costs:`` section; when the catalogue was parsed first, every channel it uses needs a contact cost."""
    costs = node.as_map("monthly_revenue_per_account: 120 and the other keys indented below costs:")
    costs.check_keys(_KEYS, required=_REQUIRED, examples=_EXAMPLES)
    currency = costs.get("currency")
    horizon = costs.get("ticket_horizon")
    revenue_from = costs.get("monthly_revenue_from")
    months_node = costs.require("months_of_revenue_per_retained_account")
    months = _money(months_node, "12")
    if months == 0:
        raise months_node.error("0 months values a retained account at nothing; write how many months of revenue "
                                "a retained account is worth, e.g. 12")
    per_contact_node = costs.require("cost_per_contact").as_map("{email: 0.05, csm_task: 30}")
    per_contact: dict[str, float] = {}
    for channel, amount in per_contact_node.items():
        if NAME_RE.fullmatch(channel) is None:
            raise amount.error(f"{channel!r} is not a channel name; use lower_case_with_underscores", at_key=True)
        per_contact[channel] = _money(amount, "0.05")
    catalogue: Mapping[str, InterventionSpec] | None = parsed.get("interventions")
    if catalogue:
        used = {spec.channel: name for name, spec in catalogue.items()}
        for channel, intervention in sorted(used.items()):
            if channel not in per_contact:
                raise per_contact_node.error(
                    f"no cost for channel {channel!r} (used by intervention {intervention!r}); "
                    f"add {channel}: <cost of one contact> (0 if it is free)")
        for channel, amount in per_contact_node.items():
            if channel not in used:
                raise amount.error(f"no intervention uses channel {channel!r}; remove it or fix its name "
                                   f"(channels in use: {', '.join(sorted(used))})", at_key=True)
    return CostModel(
        monthly_revenue_per_account=_money(costs.require("monthly_revenue_per_account"), "120"),
        months_of_revenue_per_retained_account=months,
        cost_per_inbound_ticket=_money(costs.require("cost_per_inbound_ticket"), "25"),
        cost_per_contact=per_contact,
        operating_cost_per_month=_money(costs.require("operating_cost_per_month"), "400"),
        currency=currency.as_str(pattern=_CURRENCY_RE, what="ISO 4217 currency code", example="USD")
        if currency is not None else "USD",
        ticket_horizon_us=horizon.as_duration(minimum_us=US_PER_DAY) if horizon is not None else 30 * US_PER_DAY,
        monthly_revenue_from=_revenue_source(revenue_from) if revenue_from is not None else None,
        source=str(node.mark.file),
    )


#: The ``costs:`` section for :func:`detectors.config.load_config`'s ``extra_sections`` (optional: without it
#: the report shows every figure but the ROI).
COSTS_SECTION = Section("costs", parse_costs, default=lambda _parsed: None,
                        example="{monthly_revenue_per_account: 120, ...}")
