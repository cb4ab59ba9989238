"""The holdout: its share within sampling error, the same in every process, independent across triggers."""

from __future__ import annotations

import math
import os
import subprocess
import sys

from interventions.config import PolicyConfig
from interventions.holdout import holdout_point, in_holdout
from interventions.policy import PolicyEngine
from interventions.store import InMemoryPolicyStore
from schemas.catalogue import InterventionSpec, SuccessMetric
from schemas.firing import Firing
from schemas.predicate import EventSpec
from schemas.timefmt import US_PER_DAY, parse_rfc3339

N = 200_000


def _within(observed: int, n: int, share: float, sigmas: float = 4.5) -> bool:
    """|observed − n·share| within ``sigmas`` binomial standard deviations (a false alarm ~1 in 150,000)."""
    return abs(observed - n * share) <= sigmas * math.sqrt(n * share * (1 - share))


def test_share_is_within_sampling_error_for_several_settings():
    for share in (0.05, 0.10, 0.25):
        held = sum(in_holdout(f"acct-{i}", "payment_failing", "exp-1", share) for i in range(N))
        assert _within(held, N, share), (share, held)


def test_triggers_and_salts_split_independently():
    a = [in_holdout(f"acct-{i}", "payment_failing", "exp-1", 0.1) for i in range(N)]
    b = [in_holdout(f"acct-{i}", "onboarding_stalled", "exp-1", 0.1) for i in range(N)]
    c = [in_holdout(f"acct-{i}", "payment_failing", "exp-2", 0.1) for i in range(N)]
    assert _within(sum(x and y for x, y in zip(a, b)), N, 0.01)
    assert _within(sum(x and y for x, y in zip(a, c)), N, 0.01)


def test_membership_is_the_same_in_a_fresh_process_with_another_hash_seed():
    accounts = [f"acct-{i}" for i in range(2000)]
    here = [holdout_point(a, "payment_failing", "exp-1") for a in accounts]
    code = ("import sys; from interventions.holdout import holdout_point; "
            "print(repr([holdout_point(f'acct-{i}', 'payment_failing', 'exp-1') for i in range(2000)]))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert eval(out.stdout) == here  # noqa: S307 - our own subprocess's repr of floats


def test_the_policy_puts_the_configured_share_of_winners_in_control_per_trigger():
    spec = InterventionSpec("checkin", "hook", 10, 0, SuccessMetric(EventSpec("session.started", None), US_PER_DAY), {})
    policy = PolicyConfig(default_holdout=0.1, holdout_by_trigger={"t_b": 0.3})
    engine = PolicyEngine(policy, {"checkin": spec}, {"t_a": "checkin", "t_b": "checkin"}, InMemoryPolicyStore())
    t0, n = parse_rfc3339("2026-01-05T00:00:00Z"), 8_000
    firings = [Firing("t_a", f"acct-{i}", t0) for i in range(n)] + [Firing("t_b", f"acct-{i}", t0 + 9 * US_PER_DAY)
                                                                     for i in range(n)]
    decisions = engine.process(0, firings).decisions + engine.flush(0).decisions
    for trigger, share in (("t_a", 0.1), ("t_b", 0.3)):
        arms = [d.arm for d in decisions if d.trigger == trigger]
        assert len(arms) == n and set(arms) == {"treated", "control"}
        assert _within(arms.count("control"), n, share), (trigger, arms.count("control"))
        # and the policy's split is exactly the pure function's
        assert all((d.arm == "control") == in_holdout(d.account_id, trigger, policy.salt, share)
                   for d in decisions if d.trigger == trigger)
