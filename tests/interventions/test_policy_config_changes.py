"""The policy over state written under another config, or partly expired: it decides, never stops a partition."""

from __future__ import annotations

from interventions.config import PolicyConfig
from interventions.policy import PolicyEngine
from interventions.store import InMemoryPolicyStore
from schemas.catalogue import InterventionSpec, SuccessMetric
from schemas.firing import Firing
from schemas.predicate import EventSpec
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, parse_rfc3339

T0 = parse_rfc3339("2026-03-02T10:05:00Z")


def _spec(name: str, priority: int) -> InterventionSpec:
    return InterventionSpec(name, "webhook", priority, 7 * US_PER_DAY,
                            SuccessMetric(EventSpec("session.started", None), 7 * US_PER_DAY), {})


def test_a_firing_held_when_its_trigger_is_removed_from_the_config_is_decided_not_a_crash():
    store = InMemoryPolicyStore()
    policy = PolicyConfig(default_holdout=0.0)
    before = PolicyEngine(policy, {"pay": _spec("pay", 90), "hello": _spec("hello", 50)},
                          {"payment_failing": "pay", "power_user_gone_quiet": "hello"}, store)
    held = before.process(0, [Firing("payment_failing", "acct-1", T0), Firing("power_user_gone_quiet", "acct-1", T0)])
    assert held.decisions == []  # both held until their decision window closes
    after = PolicyEngine(policy, {"hello": _spec("hello", 50)}, {"power_user_gone_quiet": "hello"}, store)
    out = after.process(0, [Firing("power_user_gone_quiet", "acct-2", T0 + 2 * US_PER_HOUR)])
    by_trigger = {d.trigger: (d.arm, d.reason) for d in out.decisions if d.account_id == "acct-1"}
    assert by_trigger == {"payment_failing": ("suppressed", "no_intervention"),
                          "power_user_gone_quiet": ("treated", None)}


def test_an_account_whose_stored_state_expired_while_holding_a_firing_does_not_stop_the_partition():
    store = InMemoryPolicyStore()
    engine = PolicyEngine(PolicyConfig(default_holdout=0.0), {"pay": _spec("pay", 90)}, {"payment_failing": "pay"},
                          store)
    engine.process(0, [Firing("payment_failing", "acct-1", T0)])
    store._accounts.pop("acct-1")  # what a Redis TTL does to an account nobody wrote for long
    out = engine.process(0, [Firing("payment_failing", "acct-2", T0 + 2 * US_PER_HOUR)])
    assert [d.account_id for d in out.decisions] == []
    assert "acct-1" not in store.read_partition(0).due
    assert [d.account_id for d in engine.process(0, [], advance_to=T0 + 4 * US_PER_HOUR).decisions] == ["acct-2"]


def test_the_policy_state_outlives_its_longest_horizon():
    engine = PolicyEngine(PolicyConfig(), {"pay": _spec("pay", 90)}, {"payment_failing": "pay"}, InMemoryPolicyStore())
    assert engine.state_retention_us >= PolicyConfig().dedupe_horizon_us + 7 * US_PER_DAY
