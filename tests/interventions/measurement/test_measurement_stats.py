"""The report's statistics against hand computation, published values, scipy and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from interventions.measurement.stats import (
    Z95,
    compare_rates,
    kaplan_meier,
    mean_difference,
    newcombe_difference,
    quantile,
    survival_difference,
    wilson_interval,
    z_for,
)


def test_z95_is_the_normal_quantile():
    assert Z95 == pytest.approx(1.959963984540054, abs=1e-12)
    assert z_for(0.90) == pytest.approx(1.6448536269514722, abs=1e-12)


# --------------------------------------------------------------------- Wilson


def test_wilson_by_hand_at_zero_successes():
    # With x = 0 the upper bound reduces to z^2 / (n + z^2).
    ci = wilson_interval(0, 10)
    assert ci.low == 0.0
    assert ci.high == pytest.approx(Z95**2 / (10 + Z95**2), abs=1e-12)


def test_wilson_by_hand_at_half():
    # p = 1/2: centre stays 1/2, half width = z / (1 + z^2/n) * sqrt(1/(4n) + z^2/(4n^2)).
    n = 40
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(0.25 / n + Z95**2 / (4 * n * n))
    ci = wilson_interval(20, n)
    assert ci.low == pytest.approx(0.5 - half, abs=1e-12)
    assert ci.high == pytest.approx(0.5 + half, abs=1e-12)


def test_wilson_all_successes_reaches_one():
    assert wilson_interval(7, 7).high == 1.0


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_matches_statsmodels(xn):
    x, n = xn
    low, high = proportion_confint(x, n, alpha=0.05, method="wilson")
    ci = wilson_interval(x, n)
    assert ci.low == pytest.approx(low, abs=1e-9)
    assert ci.high == pytest.approx(high, abs=1e-9)


def test_wilson_refuses_nonsense():
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


# ------------------------------------------------------------------- Newcombe


@pytest.mark.parametrize("x1,n1,x2,n2,low,high", [
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10.
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 10, -0.2775, 0.2775),
])
def test_newcombe_published_examples(x1, n1, x2, n2, low, high):
    ci = newcombe_difference(x1, n1, x2, n2)
    assert round(ci.low, 4) == low
    assert round(ci.high, 4) == high


def test_newcombe_by_hand_from_the_wilson_bounds():
    x1, n1, x2, n2 = 30, 100, 15, 100
    w1, w2 = wilson_interval(x1, n1), wilson_interval(x2, n2)
    d = 0.30 - 0.15
    ci = newcombe_difference(x1, n1, x2, n2)
    assert ci.low == pytest.approx(d - math.hypot(0.30 - w1.low, w2.high - 0.15), abs=1e-12)
    assert ci.high == pytest.approx(d + math.hypot(w1.high - 0.30, 0.15 - w2.low), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_newcombe_matches_statsmodels(a, b):
    (x1, n1), (x2, n2) = a, b
    low, high = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff", alpha=0.05)
    ci = newcombe_difference(x1, n1, x2, n2)
    assert ci.low == pytest.approx(low, abs=1e-9)
    assert ci.high == pytest.approx(high, abs=1e-9)


def test_compare_rates_guards_small_samples():
    small = compare_rates(5, 29, 3, 40, minimum_per_arm=30)
    assert not small.enough_data and small.uplift is None and small.interval is None
    assert "29 treated and 40 control" in small.reason
    # The arms' own rates are still shown; only the comparison is withheld.
    assert small.treated_rate == pytest.approx(5 / 29)
    enough = compare_rates(15, 30, 9, 30, minimum_per_arm=30)
    assert enough.enough_data
    assert enough.uplift == pytest.approx(0.2)
    assert enough.interval == newcombe_difference(15, 30, 9, 30)


def test_compare_rates_with_an_empty_arm():
    c = compare_rates(4, 10, 0, 0, minimum_per_arm=1)
    assert c.control_rate is None and c.control_interval is None and c.uplift is None
    assert not c.enough_data


# -------------------------------------------------------------- Kaplan–Meier


def test_kaplan_meier_by_hand_with_ties_and_censoring():
    # times: 2 (churn), 4 (churn, churn, censored), 6 (censored), 9 (churn), 11 (censored)
    km = kaplan_meier([2, 4, 4, 4, 6, 9, 11], [1, 1, 1, 0, 0, 1, 0])
    # at 2: 7 at risk, 1 churns -> 6/7; at 4: 6 at risk, 2 churn -> 6/7 * 4/6 = 4/7
    # at 9: 2 at risk (9 and 11), 1 churns -> 4/7 * 1/2 = 2/7
    assert km.times == (2.0, 4.0, 9.0)
    assert km.survival == pytest.approx((6 / 7, 4 / 7, 2 / 7))
    g2 = 1 / (7 * 6)
    g4 = g2 + 2 / (6 * 4)
    g9 = g4 + 1 / (2 * 1)
    assert km.variance == pytest.approx(((6 / 7) ** 2 * g2, (4 / 7) ** 2 * g4, (2 / 7) ** 2 * g9))
    assert km.at(1.9).survival == 1.0 and km.at(1.9).at_risk == 7
    assert km.at(4).survival == pytest.approx(4 / 7)
    assert km.at(5).at_risk == 3
    assert km.subjects == 7 and km.churned == 4


def test_kaplan_meier_when_everyone_churns():
    km = kaplan_meier([1, 2], [True, True])
    assert km.survival[-1] == 0.0 and km.variance[-1] == 0.0


@pytest.mark.filterwarnings("ignore:The confidence interval is undefined")
@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 60), st.booleans()), min_size=2, max_size=80))
def test_kaplan_meier_matches_scipy(subjects):
    durations = [d for d, _ in subjects]
    churned = [c for _, c in subjects]
    km = kaplan_meier(durations, churned)
    if not any(churned):
        assert km.times == ()
        return
    data = scipy.stats.CensoredData(uncensored=[d for d, c in subjects if c],
                                    right=[d for d, c in subjects if not c])
    ref = scipy.stats.ecdf(data).sf
    grid = np.arange(0, 62, 0.5)
    ours = np.array([km.at(t).survival for t in grid])
    np.testing.assert_allclose(ours, ref.evaluate(grid), atol=1e-12)
    # scipy's "linear" interval is S ± z·sqrt(Greenwood); compare where it is not clipped.
    with np.errstate(all="ignore"):
        ci = ref.confidence_interval(0.95, method="linear")
        low, high = ci.low.evaluate(grid), ci.high.evaluate(grid)
    for t, lo, hi in zip(grid, low, high):
        point = km.at(t)
        if 0.0 < point.survival < 1.0 and 0.0 < lo and hi < 1.0:
            assert point.variance == pytest.approx(((hi - lo) / (2 * Z95)) ** 2, rel=1e-9, abs=1e-15)


def test_survival_difference_by_hand():
    a = kaplan_meier([10, 100, 100, 100], [True, False, False, False])  # 3/4 at day 90
    b = kaplan_meier([10, 20, 100, 100], [True, True, False, False])    # 2/4 at day 90
    d = survival_difference(a, b, 90, minimum_at_risk=2)
    assert d.difference == pytest.approx(0.25)
    va = (3 / 4) ** 2 * (1 / (4 * 3))
    vb = (2 / 4) ** 2 * (1 / (4 * 3) + 1 / (3 * 2))
    half = Z95 * math.sqrt(va + vb)
    assert d.interval.low == pytest.approx(0.25 - half)
    assert d.interval.high == pytest.approx(0.25 + half)
    refused = survival_difference(a, b, 90, minimum_at_risk=3)
    assert refused.difference is None and "2 control" in refused.reason


# ----------------------------------------------------------- means, quantiles


def test_mean_difference_matches_a_welch_hand_computation():
    a, b = [3.0, 5.0, 4.0, 8.0], [1.0, 2.0, 2.0]
    est, ci = mean_difference(a, b)
    se = math.sqrt(np.var(a, ddof=1) / 4 + np.var(b, ddof=1) / 3)
    assert est == pytest.approx(5.0 - 5 / 3)
    assert ci.low == pytest.approx(est - Z95 * se) and ci.high == pytest.approx(est + Z95 * se)
    assert mean_difference([1.0], [1.0, 2.0]) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50), st.floats(0, 1))
def test_quantile_matches_numpy(values, q):
    assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)), rel=1e-9, abs=1e-6)


def test_quantile_by_hand():
    assert quantile([4.0, 1.0, 2.0, 3.0], 0.5) == 2.5
    assert quantile([10.0], 0.9) == 10.0
    assert quantile([0.0, 10.0], 0.9) == pytest.approx(9.0)
    with pytest.raises(ValueError):
        quantile([], 0.5)
