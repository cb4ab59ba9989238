"""The statistics of the impact report, in pure Python: proportions, survival, quantiles.

A support lead acts on these numbers, so each one comes with its uncertainty
or is refused: a success rate carries its Wilson score interval, an uplift
(treated minus control) its Newcombe hybrid-score interval, a 90-day retention
its Greenwood variance, and below a minimum sample the answer is "not enough
data" rather than a number that looks precise and is not. No numpy at run
time: the report runs wherever Forewarn runs; the tests check every function
against scipy and statsmodels.

>>> w = wilson_interval(8, 20)
>>> round(w.low, 4), round(w.high, 4)
(0.2188, 0.6134)
>>> d = newcombe_difference(30, 100, 15, 100)
>>> round(d.low, 4), round(d.high, 4)
(0.0341, 0.2615)
>>> compare_rates(3, 10, 1, 10, minimum_per_arm=30).reason
'not enough data: 10 treated and 10 control decisions; each arm needs at least 30'
>>> km = kaplan_meier([5, 8, 8, 12, 20], [True, True, False, True, False])
>>> round(km.at(10).survival, 4), round(km.at(10).variance, 5)
(0.6, 0.048)
>>> quantile([1, 2, 3, 4, 10], 0.5), round(quantile([1, 2, 3, 4, 10], 0.9), 6)
(3.0, 7.6)
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "Z95",
    "z_for",
    "Interval",
    "wilson_interval",
    "newcombe_difference",
    "sample_shortfall",
    "RateComparison",
    "compare_rates",
    "SurvivalPoint",
    "SurvivalCurve",
    "kaplan_meier",
    "SurvivalDifference",
    "survival_difference",
    "mean_difference",
    "quantile",
]

#: The two-sided 95 % normal quantile.
Z95 = NormalDist().inv_cdf(0.975)


def z_for(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level (0.95 → 1.96)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence}: give a level between 0 and 1, e.g. 0.95")
    return NormalDist().inv_cdf((1.0 + confidence) / 2.0)


@dataclass(frozen=True, slots=True)
class Interval:
    """A closed interval ``[low, high]``, e.g. a 95 % confidence interval.

    >>> Interval(-0.02, 0.11).covers(0.0), Interval(0.01, 0.2).covers(0.0)
    (True, False)
    """

    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_json(self) -> list[float]:
        return [self.low, self.high]


def wilson_interval(successes: int, trials: int, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion; it stays inside [0, 1] and behaves at 0 and n successes.

    Raises ``ValueError`` for no trials: a rate of nothing has no interval.
    """
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes={successes} must be between 0 and trials={trials}")
    p = successes / trials
    z2 = z * z
    denom = 1.0 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    # At 0 or n successes the exact bound is 0 or 1; floating point can miss it by an ulp.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> Interval:
    """Newcombe's hybrid score interval (his method 10) for ``x1/n1 - x2/n2``.

    It combines the two Wilson intervals, so it keeps their good coverage with
    small samples and rates near 0 or 1, where the textbook Wald interval fails.
    """
    p1, p2 = x1 / n1, x2 / n2
    w1, w2 = wilson_interval(x1, n1, z), wilson_interval(x2, n2, z)
    below = math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2)
    above = math.sqrt((w1.high - p1) ** 2 + (p2 - w2.low) ** 2)
    return Interval(p1 - p2 - below, p1 - p2 + above)


def sample_shortfall(treated: int, control: int, minimum_per_arm: int) -> str | None:
    """Why a comparison of these arm sizes is not worth a number, or None when it is."""
    if treated >= minimum_per_arm and control >= minimum_per_arm:
        return None
    return (f"not enough data: {treated} treated and {control} control decisions; "
            f"each arm needs at least {minimum_per_arm}")


@dataclass(frozen=True, slots=True)
class RateComparison:
    """Success rates of two arms and the uplift between them; numbers are None when ``reason`` says why.

    >>> c = compare_rates(60, 200, 10, 50, minimum_per_arm=30)
    >>> c.treated_rate, c.control_rate, round(c.uplift, 2), c.interval.covers(0.1)
    (0.3, 0.2, 0.1, True)
    """

    treated_successes: int
    treated_trials: int
    control_successes: int
    control_trials: int
    treated_rate: float | None
    control_rate: float | None
    treated_interval: Interval | None
    control_interval: Interval | None
    uplift: float | None
    interval: Interval | None
    reason: str | None = None

    @property
    def enough_data(self) -> bool:
        return self.reason is None


def compare_rates(treated_successes: int, treated_trials: int, control_successes: int, control_trials: int,
                  minimum_per_arm: int = 30, z: float = Z95) -> RateComparison:
    """Treated and control success rates, their Wilson intervals, and the Newcombe interval of the uplift.

    Each arm's own rate is given whenever it has a trial; the uplift only when
    both arms reach ``minimum_per_arm`` decisions.
    """
    rate_t = treated_successes / treated_trials if treated_trials else None
    rate_c = control_successes / control_trials if control_trials else None
    ci_t = wilson_interval(treated_successes, treated_trials, z) if treated_trials else None
    ci_c = wilson_interval(control_successes, control_trials, z) if control_trials else None
    reason = sample_shortfall(treated_trials, control_trials, minimum_per_arm)
    uplift = interval = None
    if reason is None:
        uplift = rate_t - rate_c
        interval = newcombe_difference(treated_successes, treated_trials, control_successes, control_trials, z)
    return RateComparison(treated_successes, treated_trials, control_successes, control_trials,
                          rate_t, rate_c, ci_t, ci_c, uplift, interval, reason)


@dataclass(frozen=True, slots=True)
class SurvivalPoint:
    """The Kaplan–Meier estimate at one time: survival, its Greenwood variance, and how many were at risk."""

    survival: float
    variance: float
    at_risk: int

    def interval(self, z: float = Z95) -> Interval:
        half = z * math.sqrt(self.variance)
        return Interval(max(0.0, self.survival - half), min(1.0, self.survival + half))


@dataclass(frozen=True, slots=True)
class SurvivalCurve:
    """A Kaplan–Meier curve: a step down at each time when someone churned.

    ``times`` are the distinct event (churn) times, ascending; ``survival[i]``
    and ``variance[i]`` hold from ``times[i]`` until the next. ``durations``
    keeps every subject's follow-up, so the number at risk can be read at any time.

    >>> km = kaplan_meier([1, 2, 3], [True, False, True])
    >>> km.times, [round(s, 3) for s in km.survival]
    ((1.0, 3.0), [0.667, 0.0])
    >>> km.at(0.5).at_risk, km.at(2.5).at_risk
    (3, 1)
    """

    times: tuple[float, ...]
    survival: tuple[float, ...]
    variance: tuple[float, ...]
    durations: tuple[float, ...]
    subjects: int
    churned: int

    def at_risk(self, t: float) -> int:
        """Subjects still followed at time ``t`` (their follow-up is at least ``t``)."""
        return len(self.durations) - bisect_right(self.durations, t - 1e-12) if self.durations else 0

    def at(self, t: float) -> SurvivalPoint:
        """The estimate at ``t`` (right-continuous: a churn at ``t`` counts)."""
        i = bisect_right(self.times, t)
        if i == 0:
            return SurvivalPoint(1.0, 0.0, self.at_risk(t))
        return SurvivalPoint(self.survival[i - 1], self.variance[i - 1], self.at_risk(t))

    @property
    def longest_followup(self) -> float:
        return self.durations[-1] if self.durations else 0.0


def kaplan_meier(durations: Sequence[float], churned: Sequence[bool]) -> SurvivalCurve:
    """The Kaplan–Meier estimator with Greenwood's variance.

    ``durations[i]`` is subject i's time from entry to churn (``churned[i]``) or
    to the end of follow-up (censored). Subjects censored at a churn time are
    still at risk at that time, the usual convention.
    """
    if len(durations) != len(churned):
        raise ValueError("durations and churned must have the same length")
    pairs = sorted((float(d), bool(c)) for d, c in zip(durations, churned))
    if any(d < 0 for d, _ in pairs):
        raise ValueError("a duration cannot be negative")
    n = len(pairs)
    times: list[float] = []
    surv: list[float] = []
    var: list[float] = []
    s, greenwood = 1.0, 0.0
    i = 0
    while i < n:
        t = pairs[i][0]
        at_risk = n - i
        deaths = 0
        while i < n and pairs[i][0] == t:
            deaths += pairs[i][1]
            i += 1
        if deaths:
            s *= 1.0 - deaths / at_risk
            if deaths < at_risk:
                greenwood += deaths / (at_risk * (at_risk - deaths))
            times.append(t)
            surv.append(s)
            # Once everyone at risk has churned the curve is exactly 0 with nothing left to vary.
            var.append(s * s * greenwood if s > 0 else 0.0)
    return SurvivalCurve(tuple(times), tuple(surv), tuple(var), tuple(d for d, _ in pairs), n,
                         sum(c for _, c in pairs))


@dataclass(frozen=True, slots=True)
class SurvivalDifference:
    """``a.at(t) - b.at(t)`` with a normal-approximation interval, or the reason there is none."""

    at: float
    a: SurvivalPoint
    b: SurvivalPoint
    difference: float | None
    interval: Interval | None
    reason: str | None = None


def survival_difference(a: SurvivalCurve, b: SurvivalCurve, t: float, minimum_at_risk: int = 10,
                        z: float = Z95, names: tuple[str, str] = ("treated", "control")) -> SurvivalDifference:
    """The difference of two independent Kaplan–Meier curves at ``t``: S_a(t) - S_b(t) ± z·√(Var_a + Var_b).

    Beyond the last follow-up a curve says nothing, so each curve needs at least
    ``minimum_at_risk`` subjects still followed at ``t``.

    >>> km_a = kaplan_meier([100] * 40, [False] * 40)
    >>> km_b = kaplan_meier([30] * 10 + [100] * 30, [True] * 10 + [False] * 30)
    >>> survival_difference(km_a, km_b, 90).difference
    0.25
    >>> survival_difference(km_a, km_b, 120).reason
    'not enough follow-up: at day 120, 0 treated and 0 control accounts are still followed; each needs 10'
    """
    pa, pb = a.at(t), b.at(t)
    if pa.at_risk < minimum_at_risk or pb.at_risk < minimum_at_risk:
        return SurvivalDifference(t, pa, pb, None, None,
                                  f"not enough follow-up: at day {t:g}, {pa.at_risk} {names[0]} and {pb.at_risk} "
                                  f"{names[1]} accounts are still followed; each needs {minimum_at_risk}")
    diff = pa.survival - pb.survival
    half = z * math.sqrt(pa.variance + pb.variance)
    return SurvivalDifference(t, pa, pb, diff, Interval(diff - half, diff + half))


def mean_difference(a: Sequence[float], b: Sequence[float], z: float = Z95) -> tuple[float, Interval] | None:
    """``mean(a) - mean(b)`` with a Welch normal-approximation interval; None unless both have 2+ values.

    >>> est, ci = mean_difference([1, 2, 3, 4], [0, 0, 1, 1])
    >>> est, round(ci.low, 3), round(ci.high, 3)
    (2.0, 0.614, 3.386)
    """
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    half = z * math.sqrt(va / len(a) + vb / len(b))
    return ma - mb, Interval(ma - mb - half, ma - mb + half)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile with linear interpolation between order statistics (numpy's default).

    Raises ``ValueError`` for no values.
    """
    if not values:
        raise ValueError("the quantile of no values is undefined")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q={q}: a quantile level is between 0 and 1")
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
