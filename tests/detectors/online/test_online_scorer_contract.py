"""The contract of detectors/online/base.py, checked for every scorer a usage_drop trigger can use."""

from __future__ import annotations

import copy
import pickle
import random

import orjson
import pytest

from detectors.online.profile import FEATURE_NAMES
from detectors.online.usage_drop import SCORERS


def _days(seed, n=400):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        long_ = rnd.choice([0.1, 0.4, 0.8, 0.95])
        short = max(0.0, min(1.0, long_ + rnd.uniform(-0.5, 0.2)))
        x = {name: rnd.uniform(0, 3) for name in FEATURE_NAMES}
        x.update(active_long=long_, active_short=short, days_observed=rnd.choice([3, 40, 90]),
                 days_since_active=rnd.randrange(0, 12))
        x.update(day_active=int(rnd.random() < short), day_sessions=rnd.randrange(0, 4), day_features=1,
                 day_users=1, day_payments_failed=0, day_tickets=int(rnd.random() < 0.02))
        out.append(x)
    return out


@pytest.fixture(params=sorted(SCORERS))
def scorer_cls(request):
    return SCORERS[request.param]


def test_every_scorer_is_registered_under_its_name(scorer_cls):
    assert SCORERS[scorer_cls.name] is scorer_cls


def test_configuration_is_the_constructor_arguments(scorer_cls):
    scorer = scorer_cls(min_days=10)
    again = scorer_cls(**scorer.params())
    assert again.params() == scorer.params() and scorer.params()["min_days"] == 10
    assert repr(scorer).startswith(scorer_cls.__name__ + "(")


def test_scoring_is_pure_and_learning_is_deterministic(scorer_cls):
    a, b = scorer_cls(min_days=20), scorer_cls(min_days=20)
    mem_a, mem_b = a.new_memory(), b.new_memory()
    orjson.dumps(mem_a)
    changed = 0
    for x in _days(1):
        before_model, before_mem = pickle.dumps(a), list(mem_a)
        s1 = a.score_one(x, mem_a)
        s2 = a.score_one(x, mem_a)
        assert s1 == s2 and isinstance(s1, float) and s1 >= 0.0
        assert pickle.dumps(a) == before_model and mem_a == before_mem, "score_one changed state"
        if x["days_observed"] < a.min_days:
            assert s1 == 0.0, "an account in its warm-up scores 0"
        a.learn_one(x, mem_a)
        b.learn_one(x, mem_b)
        changed += pickle.dumps(a) != before_model or mem_a != before_mem
        assert mem_a == mem_b and a.score_one(x, mem_a) == b.score_one(x, mem_b)
    assert changed > 0 or scorer_cls.stateless, "learn_one never learned anything"
    assert not (changed and scorer_cls.stateless), "a stateless scorer changed state"


def test_forget_returns_the_memory_to_blank_and_baseline_is_json(scorer_cls):
    scorer = scorer_cls(min_days=0)
    mem = scorer.new_memory()
    days = _days(2)
    for x in days:
        scorer.learn_one(x, mem)
    scorer.forget(mem)
    assert mem == scorer.new_memory()
    orjson.dumps(scorer.baseline(days[-1]))


def test_a_scorer_survives_a_pickle_round_trip_unchanged(scorer_cls):
    scorer = scorer_cls(min_days=0)
    mem = scorer.new_memory()
    days = _days(3)
    for x in days[:300]:
        scorer.learn_one(x, mem)
    twin = pickle.loads(pickle.dumps(scorer))
    mem_twin = copy.deepcopy(mem)
    for x in days[300:]:
        assert scorer.score_one(x, mem) == twin.score_one(x, mem_twin)
        scorer.learn_one(x, mem)
        twin.learn_one(x, mem_twin)
