"""The daily loop's fast paths give exactly (bit for bit) what the plain computations give."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from detectors.online.drop_z import DropZScorer
from detectors.online.profile import FEATURE_NAMES, SERIES, ActivityProfile, Horizons
from detectors.online.tally import SILENT_DAY, DayTally, event_hash
from online_streams import DAY, chunks, noisy_arrival, population, small_detector
from schemas.event import Event


def plain_fold(p: ActivityProfile, h: Horizons, day: dict[str, int]) -> None:
    """The fold as first written: one series at a time, in place."""
    short, long_, counts = h.decays
    for i, name in enumerate(SERIES):
        x = day["day_" + name]
        p.sums[2 * i] = short * p.sums[2 * i] + x
        p.sums[2 * i + 1] = long_ * p.sums[2 * i + 1] + x
    p.payments_failed = counts * p.payments_failed + day["day_payments_failed"]
    p.tickets = counts * p.tickets + day["day_tickets"]
    if day["day_active"]:
        p.last_active_day = p.first_day + p.days
    p.days += 1


def plain_features(p: ActivityProfile, h: Horizons) -> dict[str, float]:
    def weight(decay: float, n: int) -> float:
        return (1.0 - decay ** n) / (1.0 - decay)

    w_short, w_long = (weight(h.decays[0], p.days), weight(h.decays[1], p.days)) if p.days else (math.inf,) * 2
    out: dict[str, float] = {}
    for i, name in enumerate(SERIES):
        out[name + "_short"] = p.sums[2 * i] / w_short
        out[name + "_long"] = p.sums[2 * i + 1] / w_long
    out["days_since_active"] = p.days if p.last_active_day is None else p.last_day - p.last_active_day
    out["trend"] = out["active_short"] / out["active_long"] - 1.0 if out["active_long"] > 0 else 0.0
    out["payments_failed"], out["tickets"], out["days_observed"] = p.payments_failed, p.tickets, p.days
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_fold_silent_fold_counts_and_features_equal_the_plain_computation(seed):
    rnd = random.Random(seed)
    h = Horizons()
    fast, plain = ActivityProfile(first_day=100), ActivityProfile(first_day=100)
    assert fast.features(h) == plain_features(plain, h)
    for _ in range(400):
        if rnd.random() < 0.4:
            fast.fold_silent(h)
            plain_fold(plain, h, SILENT_DAY)
        else:
            day = {"day_active": 1, "day_sessions": rnd.randrange(5), "day_features": rnd.randrange(4),
                   "day_users": rnd.randrange(1, 4), "day_payments_failed": int(rnd.random() < 0.05),
                   "day_tickets": int(rnd.random() < 0.05)}
            fast.fold(h, day)
            plain_fold(plain, h, day)
        assert fast.encode() == plain.encode()
        got = fast.features(h)
        assert list(got) == list(FEATURE_NAMES)
        assert got == plain_features(plain, h)


def test_drop_z_cached_variance_factor_and_pickle_are_unchanged():
    scorer = DropZScorer(short_half_life_days=7, min_days=28)
    lam = 2.0 ** (-1.0 / 7)
    for days in (1, 2, 28, 29, 365, 10_000):
        want = ((1.0 - lam ** (2 * days)) / (1.0 - lam * lam)) / ((1.0 - lam ** days) / (1.0 - lam)) ** 2
        assert scorer.variance_factor(days) == want
        assert scorer.variance_factor(days) == want  # from the cache
    assert vars(scorer).keys() == {"short_half_life_days", "min_days", "floor", "_decay"}  # the checkpoint's pickle
    assert pickle.loads(pickle.dumps(scorer)).params() == scorer.params()


def test_tally_add_keeps_event_hashes_and_drops_repeats():
    t = DayTally()
    ids = ["e1", "e2", "e\udc80", "e1", "é"]
    added = [t.add(Event(i, "a", "session.started", 0, "u1")) for i in ids]
    assert added == [True, True, True, False, True]
    assert t.seen == {event_hash(i) for i in ids}
    assert t.sessions == 4


def test_detector_state_and_firings_do_not_depend_on_chunking():
    truth = population(5, accounts=30, days=80, silent={"acct-003": 50})
    arrivals = noisy_arrival(truth, 5)
    runs = []
    for sizes in ([1, 3, 7], [10_000]):
        det = small_detector()
        fired = []
        for chunk in chunks(arrivals, sizes):
            fired += det.process(chunk)
        fired += det.advance_to((det.max_ts // DAY + 1) * DAY - 1)
        runs.append(([f.to_json() for f in fired], pickle.dumps(det.snapshot()), det.counts))
    assert runs[0] == runs[1]
