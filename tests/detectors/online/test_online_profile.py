"""Feature updates are exact against a direct computation over the raw events."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from detectors.online.profile import FEATURE_NAMES, Horizons
from online_streams import DAY, LATENESS, chunks, noisy_arrival, population, small_detector


def direct_features(events, account, first_day, last_day, horizons: Horizons):
    """The features from scratch: dedupe by event id, count each UTC day, weight by age."""
    seen = set()
    days = defaultdict(lambda: {"active": 0, "sessions": 0, "features": set(), "users": set(),
                                "failed": 0, "tickets": 0})
    for e in events:
        if e.account_id != account or e.event_id in seen:
            continue
        seen.add(e.event_id)
        d = days[e.ts // DAY]
        if e.type in ("session.started", "feature.used"):
            d["active"] = 1
            d["users"].add(e.user_id)
            if e.type == "session.started":
                d["sessions"] += 1
            else:
                d["features"].add(e.properties["feature"])
        elif e.type == "payment.failed":
            d["failed"] += 1
        elif e.type == "ticket.opened" and e.properties.get("origin") != "proactive":
            d["tickets"] += 1
    series = {"active": [], "sessions": [], "features": [], "users": [], "failed": [], "tickets": []}
    for day in range(first_day, last_day + 1):
        d = days.get(day)
        series["active"].append(d["active"] if d else 0)
        series["sessions"].append(d["sessions"] if d else 0)
        series["features"].append(len(d["features"]) if d else 0)
        series["users"].append(len(d["users"]) if d else 0)
        series["failed"].append(d["failed"] if d else 0)
        series["tickets"].append(d["tickets"] if d else 0)
    n = last_day - first_day + 1

    def weighted(xs, half_life, normalise=True):
        lam = 2.0 ** (-1.0 / half_life)
        weights = [lam ** (n - 1 - j) for j in range(n)]
        total = sum(w * x for w, x in zip(weights, xs))
        return total / sum(weights) if normalise else total

    out = {}
    for name in ("active", "sessions", "features", "users"):
        out[name + "_short"] = weighted(series[name], horizons.short_days)
        out[name + "_long"] = weighted(series[name], horizons.long_days)
    active_days = [first_day + j for j, a in enumerate(series["active"]) if a]
    out["days_since_active"] = last_day - active_days[-1] if active_days else n
    out["trend"] = out["active_short"] / out["active_long"] - 1 if out["active_long"] > 0 else 0.0
    out["payments_failed"] = weighted(series["failed"], horizons.counts_days, normalise=False)
    out["tickets"] = weighted(series["tickets"], horizons.counts_days, normalise=False)
    out["days_observed"] = n
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_profiles_equal_a_direct_computation_over_the_raw_events(seed):
    truth = population(seed, accounts=12, days=75)
    arrivals = noisy_arrival(truth, seed)
    det = small_detector()
    for chunk in chunks(arrivals, [1, 7, 500, 3]):
        det.process(chunk)
    det.advance_to((det.max_ts // DAY + 1) * DAY - 1)  # close the last day too
    assert det.counts.duplicates > 0 and det.counts.late == 0
    last_day = det.closed_through
    checked = 0
    for aid, acct in det.accounts.items():
        first_day = min(e.ts for e in truth if e.account_id == aid) // DAY
        assert acct.profile.first_day == first_day and acct.profile.last_day == last_day
        got = acct.profile.features(det.horizons)
        want = direct_features(truth, aid, first_day, last_day, det.horizons)
        assert list(got) == list(FEATURE_NAMES)
        for name in FEATURE_NAMES:
            assert math.isclose(got[name], want[name], rel_tol=1e-9, abs_tol=1e-12), (aid, name, got[name], want[name])
        checked += 1
    assert checked == 12


def test_an_event_just_before_midnight_that_arrives_after_it_counts_for_its_own_day():
    from schemas.event import Event

    day = 20_500
    det = small_detector()
    late_but_allowed = Event("a.1", "a", "session.started", (day + 1) * DAY - 60_000_000, "u")
    det.process([Event("b.1", "b", "session.started", (day + 1) * DAY + 60_000_000, "u"), late_but_allowed])
    det.advance_to((day + 2) * DAY)
    a = det.accounts["a"].profile
    assert (a.first_day, a.last_active_day) == (day, day)
    assert det.counts.late == 0 and det.watermark > (day + 1) * DAY - LATENESS
