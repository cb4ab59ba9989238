"""The ``costs:`` section: good and bad example files, read through the top-level config loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.config import load_config
from interventions.measurement.costs import COSTS_SECTION, CostModel, RevenueSource
from schemas.config_yaml import ConfigError
from schemas.timefmt import US_PER_DAY

DATA = Path(__file__).parent / "testdata" / "costs"


def load(name: str):
    return load_config(DATA / name, extra_sections=[COSTS_SECTION])


def test_full_costs_section():
    costs = load("good_full.yaml").extra["costs"]
    assert costs == CostModel(
        monthly_revenue_per_account=120.0, months_of_revenue_per_retained_account=12.0,
        cost_per_inbound_ticket=25.5, cost_per_contact={"email": 0.05, "csm_task": 30.0},
        operating_cost_per_month=400.0, currency="EUR", ticket_horizon_us=60 * US_PER_DAY,
        monthly_revenue_from=RevenueSource("payment.succeeded", "amount_usd"))
    assert costs.to_json()["ticket_horizon"] == "60d"


def test_minimal_costs_section_takes_the_defaults():
    costs = load("good_minimal.yaml").extra["costs"]
    assert costs.currency == "USD" and costs.ticket_horizon_us == 30 * US_PER_DAY
    assert costs.monthly_revenue_from is None and costs.contact_cost("email") == 0.0


def test_costs_section_is_optional():
    assert load("good_without_costs.yaml").extra["costs"] is None


NOT_FINITE = ("is not a finite amount of money (.nan, .inf and numbers past 1.8e308 are not amounts); "
              "write a plain number")


@pytest.mark.parametrize("name,where,message", [
    ("bad_negative_money.yaml", "30:28", "costs.cost_per_inbound_ticket: -25 is negative; money amounts are 0 or more"),
    ("bad_missing_channel.yaml", "31:21", "costs.cost_per_contact: no cost for channel 'csm_task' (used by "
                                          "intervention 'outreach'); add csm_task: <cost of one contact> (0 if it is free)"),
    ("bad_unused_channel.yaml", "31:49", "costs.cost_per_contact.sms: no intervention uses channel 'sms'; remove it "
                                         "or fix its name (channels in use: csm_task, email)"),
    ("bad_misspelt_key.yaml", "28:3", "costs.monthly_revenue_per_acount: unknown key 'monthly_revenue_per_acount'; "
                                      "did you mean 'monthly_revenue_per_account'?"),
    ("bad_text_amount.yaml", "28:32", "costs.monthly_revenue_per_account: expected an amount of money, got '$120'; "
                                      "write a plain number, e.g. 120"),
    ("bad_zero_months.yaml", "29:43", "costs.months_of_revenue_per_retained_account: 0 months values a retained "
                                      "account at nothing; write how many months of revenue a retained account is "
                                      "worth, e.g. 12"),
    ("bad_horizon_without_unit.yaml", "31:19", "costs.ticket_horizon: a duration needs a unit: write 30d, 30h, 30m or 30s"),
    ("bad_currency.yaml", "28:13", "costs.currency: 'dollars' is not a valid ISO 4217 currency code; write e.g. USD"),
    ("bad_revenue_from.yaml", "29:3", "costs.monthly_revenue_from: missing required key 'property'; "
                                      "add e.g. property: amount_usd"),
    ("bad_nan_money.yaml", "32:29", f"costs.operating_cost_per_month: nan {NOT_FINITE}, e.g. 400"),
    ("bad_inf_money.yaml", "28:32", f"costs.monthly_revenue_per_account: inf {NOT_FINITE}, e.g. 120"),
    ("bad_huge_money.yaml", "31:45", f"costs.cost_per_contact.csm_task: inf {NOT_FINITE}, e.g. 0.05"),
    ("bad_minus_inf_money.yaml", "30:28", f"costs.cost_per_inbound_ticket: -inf {NOT_FINITE}, e.g. 25"),
])
def test_bad_costs_name_file_line_column_and_the_fix(name, where, message):
    with pytest.raises(ConfigError) as info:
        load(name)
    assert str(info.value) == f"{DATA / name}:{where}: {message}"
