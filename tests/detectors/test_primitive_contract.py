"""The contract of detectors/base.py, checked for every primitive in the registry.

Each registered kind needs example instances below; a new primitive without
one fails ``test_every_registered_primitive_has_examples``.
"""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.absence import Absence
from detectors.count import Count
from detectors.habit_silence import HabitSilence
from detectors.registry import PRIMITIVES
from schemas.predicate import EventSpec

DAY = 86_400_000_000
E = EventSpec

EXAMPLES = {
    "absence": [
        Absence("absence_7d", [E("account.onboarded")], [E("feature.used")], within_us=7 * DAY),
        Absence("absence_short", [E("a"), E("b")], [E("c")], within_us=3),
    ],
    "count": [
        Count("count_3_in_30d", [E("payment.failed")], 3, 30 * DAY, [E("payment.succeeded")], [E("payment.succeeded")]),
        Count("count_once", [E("x")], 1, 5, [], []),
        Count("count_rearm_no_reset", [E("x")], 2, 10, [], [E("y")]),
    ],
    "habit_silence": [
        HabitSilence("habit_10_of_14", [E("session.started")], 10, 14, 10 * DAY),
        HabitSilence("habit_1_of_1", [E("x")], 1, 1, 3),
        HabitSilence("habit_2_of_3_days", [E("x")], 2, 3, 2 * DAY),
    ],
}
ALL = [rule for rules in EXAMPLES.values() for rule in rules]


def test_every_registered_primitive_has_examples():
    assert set(EXAMPLES) == set(PRIMITIVES)
    for kind, rules in EXAMPLES.items():
        assert all(type(r) is PRIMITIVES[kind] for r in rules)


def _bits(rule):
    bits = 0
    for _spec, bit in rule.interests():
        bits |= bit
    return bits


def _pending(rule, seed, n):
    """Random pending events: times on a coarse grid (ties!) spanning a few windows, random role subsets."""
    rnd = random.Random(seed)
    bits = _bits(rule)
    scale = rnd.choice([1, DAY // 4, DAY])
    out = []
    for i in range(n):
        roles = 0
        while roles == 0:
            roles = rnd.randrange(1, bits + 1) & bits
        out.append((rnd.randrange(0, 60) * scale, rnd.getrandbits(63), roles))
    return out, scale


def _state_key(rule, state):
    data = rule.encode(state)
    return orjson.dumps(data[:-1]), sorted(map(tuple, data[-1]))


def _fold_steps(rule, pending, steps):
    state = rule.new_state()
    state.pending = list(pending)
    out = []
    for upto in steps:
        rule.fold(state, upto, out)
    return out, state


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.name)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(0, 25), cuts=st.lists(st.integers(0, 70), max_size=6))
def test_folding_is_compositional_and_order_free(rule, seed, n, cuts):
    pending, scale = _pending(rule, seed, n)
    end = 70 * scale
    steps = sorted(c * scale for c in cuts) + [end]
    once_fired, once_state = _fold_steps(rule, pending, [end])
    stepped_fired, stepped_state = _fold_steps(rule, pending, steps)
    shuffled = list(pending)
    random.Random(seed).shuffle(shuffled)
    shuffled_fired, shuffled_state = _fold_steps(rule, shuffled, steps)
    assert stepped_fired == once_fired == shuffled_fired
    assert _state_key(rule, stepped_state) == _state_key(rule, once_state) == _state_key(rule, shuffled_state)
    assert len({f for f, _ev in once_fired}) == len(once_fired), "fired twice at one instant"
    assert all(f <= end for f, _ev in once_fired)
    orjson.dumps([ev for _f, ev in once_fired])  # evidence is JSON


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.name)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 25), first=st.integers(0, 70))
def test_next_due_is_a_lower_bound_and_folding_to_it_makes_progress(rule, seed, n, first):
    pending, scale = _pending(rule, seed, n)
    state = rule.new_state()
    state.pending = list(pending)
    rule.fold(state, first * scale, [])
    for _ in range(200):
        due = rule.next_due(state)
        if due is None:
            # nothing can fire without new events, however far time goes
            out = []
            rule.fold(state, 1 << 61, out)
            assert out == []
            return
        out = []
        rule.fold(state, due - 1, out)
        assert out == [], "fired before next_due"
        if rule.next_due(state) != due:
            continue  # folding up to due - 1 taught it more; check the new bound
        rule.fold(state, due, out)
        after = rule.next_due(state)
        assert after is None or after > due, "no progress at the wake-up time"
    pytest.fail("next_due never settled")


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.name)
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(0, 25), upto=st.integers(0, 70))
def test_encoding_round_trips_exactly(rule, seed, n, upto):
    pending, scale = _pending(rule, seed, n)
    state = rule.new_state()
    state.pending = list(pending)
    rule.fold(state, upto * scale, [])
    data = orjson.loads(orjson.dumps(rule.encode(state)))
    again = rule.decode(data)
    assert rule.encode(again) == rule.encode(state)
    assert rule.is_blank(again) == rule.is_blank(state)
    assert rule.next_due(again) == rule.next_due(state)


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.name)
def test_a_new_state_is_blank_and_small(rule):
    state = rule.new_state()
    assert rule.is_blank(state)
    assert rule.next_due(state) is None
    assert len(orjson.dumps(rule.encode(state))) < 40
    assert rule.describe()


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.name)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(0, 25), cuts=st.lists(st.integers(0, 70), min_size=1, max_size=6))
def test_fold_removes_exactly_the_pending_events_before_upto(rule, seed, n, cuts):
    """Events at or after ``upto`` stay pending untouched, whatever the state (done, disarmed...): otherwise
    state would depend on whether an event arrived before or after a fold."""
    pending, scale = _pending(rule, seed, n)
    state = rule.new_state()
    state.pending = list(pending)
    remaining = list(pending)
    for upto in sorted(c * scale for c in cuts):
        rule.fold(state, upto, [])
        remaining = [p for p in remaining if p[0] >= upto]
        assert sorted(state.pending) == sorted(remaining)



def _due(rule, state):
    due = rule.next_due(state)
    return float("inf") if due is None else due


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.name)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(0, 25), upto=st.integers(0, 70))
def test_a_new_pending_event_brings_next_due_down_to_no_earlier_than_just_after_itself(rule, seed, n, upto):
    """The engine folds an account at its wake-up times; an event arriving at ``t`` (never below the
    watermark, so never below the last fold) must not move next_due below min(next_due, t + 1) nor
    raise it — otherwise which times the engine folds at, and so the stored state, would depend on
    whether the event came before or after a fold, i.e. on how the delivery was chunked."""
    pending, scale = _pending(rule, seed, n)
    state = rule.new_state()
    state.pending = list(pending)
    rule.fold(state, upto * scale, [])
    before = _due(rule, state)
    kept = list(state.pending)
    bits = _bits(rule)
    for at in range(upto, 71):
        ts = at * scale
        for roles in range(1, bits + 1):
            if roles & bits != roles:
                continue
            state.pending = kept + [(ts, 1 << 62, roles)]
            after = _due(rule, state)
            assert min(before, ts + 1) <= after <= before, (ts, roles)
