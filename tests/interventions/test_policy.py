"""The policy's rules as a table, and the properties that make it replayable."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interventions.config import PolicyConfig
from interventions.policy import PolicyEngine
from interventions.quiet_hours import QuietHours
from interventions.store import InMemoryPolicyStore
from schemas.catalogue import InterventionSpec, SuccessMetric
from schemas.firing import Firing
from schemas.predicate import EventSpec
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, parse_rfc3339

T0 = parse_rfc3339("2026-03-02T10:05:00Z")  # a Monday, five minutes into a decision window
DAY, HOUR, MIN = US_PER_DAY, US_PER_HOUR, US_PER_MINUTE


def _spec(name: str, priority: int, cooldown_days: int, channel: str = "webhook") -> InterventionSpec:
    return InterventionSpec(name, channel, priority, cooldown_days * DAY,
                            SuccessMetric(EventSpec("session.started", None), 7 * DAY),
                            {"subject": "{{trigger}} for {{account_id}}", "count": "{{evidence.count}}"})


CATALOGUE = {
    "payment_outreach": _spec("payment_outreach", 90, 7),
    "onboarding_checkin": _spec("onboarding_checkin", 70, 30),
    "we_miss_you": _spec("we_miss_you", 50, 14),
}
TRIGGERS = {"payment_failing": "payment_outreach", "onboarding_stalled": "onboarding_checkin",
            "power_user_gone_quiet": "we_miss_you"}
NO_HOLDOUT = PolicyConfig(default_holdout=0.0)


def _engine(policy: PolicyConfig = NO_HOLDOUT, store: InMemoryPolicyStore | None = None) -> PolicyEngine:
    return PolicyEngine(policy, CATALOGUE, TRIGGERS, store or InMemoryPolicyStore())


def _outcome(d) -> str:
    return d.arm if d.reason is None else d.reason


PAY, ONB, QUIET = "payment_failing", "onboarding_stalled", "power_user_gone_quiet"

# (case, firings as (trigger, minutes after T0), expected outcome per firing in the same order)
CASES = [
    ("one firing is treated", [(PAY, 0)], ["treated"]),
    ("same trigger inside its cooldown", [(PAY, 0), (PAY, 3 * 1440)], ["treated", "cooldown"]),
    ("same trigger after its cooldown", [(PAY, 0), (PAY, 8 * 1440)], ["treated", "treated"]),
    ("competing firings: the higher priority wins the window",
     [(QUIET, 0), (PAY, 20)], ["lower_priority", "treated"]),
    ("three in one window: one winner", [(QUIET, 1), (ONB, 2), (PAY, 3)],
     ["lower_priority", "lower_priority", "treated"]),
    ("equal windows are per account, different windows do not compete", [(QUIET, 0), (PAY, 60)],
     ["treated", "treated"]),
    ("a high priority in cooldown does not block a lower one",
     [(PAY, 0), (PAY, 2 * 1440), (QUIET, 2 * 1440 + 5)], ["treated", "cooldown", "treated"]),
    ("frequency cap: third contact within 7 days", [(PAY, 0), (ONB, 2 * 1440), (QUIET, 4 * 1440)],
     ["treated", "treated", "frequency_cap"]),
    ("frequency cap: a contact 7 days back no longer counts", [(PAY, 0), (ONB, 2 * 1440), (QUIET, 7 * 1440)],
     ["treated", "treated", "treated"]),
    ("cap before priority: the window's winner is the eligible one",
     [(PAY, 0), (ONB, 1440), (PAY, 2 * 1440), (QUIET, 2 * 1440 + 1)],
     ["treated", "treated", "cooldown", "frequency_cap"]),
    ("a trigger without intervention is suppressed at once", [("model_drop", 0)], ["no_intervention"]),
]


@pytest.mark.parametrize("case,firings,expected", CASES, ids=[c[0] for c in CASES])
def test_policy_rules_table(case, firings, expected):
    engine = _engine()
    fs = [Firing(t, "acct-1", T0 + m * MIN, {"count": 3}) for t, m in firings]
    decisions = engine.process(0, fs).decisions + engine.flush(0).decisions
    by_id = {d.firing_id: d for d in decisions}
    assert len(decisions) == len(fs), case
    assert [_outcome(by_id[f.firing_id]) for f in fs] == expected, case


def test_treated_decision_carries_a_command_with_rendered_content_and_evidence():
    engine = _engine(PolicyConfig(default_holdout=0.0, command_ttl_us=2 * DAY))
    f = Firing(PAY, "acct-9", T0, {"count": 3})
    engine.process(0, [f])
    out = engine.flush(0)
    (d,), (c,) = out.decisions, out.commands
    assert d.command_id == c.command_id and c.firing_id == f.firing_id
    assert c.channel == "webhook" and c.intervention == "payment_outreach"
    assert c.payload.content == {"subject": "payment_failing for acct-9", "count": "3"}
    assert c.payload.evidence == {"count": 3}
    assert c.expires_at_us - c.decided_at_us == 2 * DAY and c.decided_at_us == T0


def test_duplicates_get_no_second_decision_even_across_chunks():
    engine = _engine()
    f = Firing(PAY, "acct-1", T0)
    first = engine.process(0, [f, f])
    second = engine.process(0, [f, Firing(QUIET, "acct-2", T0 + 2 * HOUR)])
    assert first.duplicates == 1 and second.duplicates == 1
    assert [d.firing_id for d in first.decisions + second.decisions] == [f.firing_id]


def test_late_firing_into_a_decided_window_that_had_a_contact_is_window_taken():
    engine = _engine()
    engine.process(0, [Firing(QUIET, "acct-1", T0), Firing(QUIET, "acct-2", T0 + 2 * HOUR)])
    late = Firing(PAY, "acct-1", T0 + 10 * MIN)  # its window was decided when the watermark passed it
    out = engine.process(0, [late])
    assert [(_outcome(d), d.trigger) for d in out.decisions] == [("window_taken", PAY)]


def test_late_firing_into_a_window_without_contact_is_decided_normally():
    engine = _engine()
    engine.process(0, [Firing(QUIET, "acct-2", T0 + 2 * HOUR)])
    out = engine.process(0, [Firing(PAY, "acct-1", T0)])
    assert [_outcome(d) for d in out.decisions] == ["treated"]


def test_control_wins_consume_cooldown_like_treated_ones():
    engine = _engine(PolicyConfig(default_holdout=0.0, holdout_by_trigger={PAY: 0.999999}))
    first = engine.process(0, [Firing(PAY, "acct-1", T0), Firing(PAY, "acct-1", T0 + 3 * DAY)])
    rest = engine.flush(0)
    assert [_outcome(d) for d in first.decisions + rest.decisions] == ["control", "cooldown"]
    assert first.commands == rest.commands == []


def test_quiet_hours_delay_to_the_local_morning_and_the_delayed_firing_competes_there():
    policy = PolicyConfig(default_holdout=0.0, quiet_hours=QuietHours(21 * 60, 8 * 60))
    engine = _engine(policy)
    night = Firing(QUIET, "acct-1", parse_rfc3339("2026-01-05T22:30:00Z"), {"timezone": "Europe/Berlin"})
    morning = Firing(PAY, "acct-1", parse_rfc3339("2026-01-06T07:10:00Z"), {"timezone": "Europe/Berlin"})
    unknown_tz = Firing(QUIET, "acct-2", parse_rfc3339("2026-01-05T22:30:00Z"))
    first = engine.process(0, [night, unknown_tz, morning])
    out = {d.firing_id: d for d in first.decisions + engine.flush(0).decisions}
    # 22:30 UTC is 23:30 in Berlin: delayed to 08:00 Berlin = 07:00 UTC, the same window as the 07:10 payment firing.
    assert out[night.firing_id].decided_at.isoformat() == "2026-01-06T07:00:00+00:00"
    assert _outcome(out[night.firing_id]) == "lower_priority" and _outcome(out[morning.firing_id]) == "treated"
    assert out[unknown_tz.firing_id].decided_at.isoformat() == "2026-01-05T22:30:00+00:00"  # time zone unknown


def test_quiet_hours_default_timezone_applies_where_unknown():
    engine = _engine(PolicyConfig(default_holdout=0.0, quiet_hours=QuietHours(21 * 60, 8 * 60, "UTC")))
    engine.process(0, [Firing(QUIET, "acct-2", parse_rfc3339("2026-01-05T22:30:00Z"))])
    (d,) = engine.flush(0).decisions
    assert d.decided_at.isoformat() == "2026-01-06T08:00:00+00:00"


def test_firings_are_held_until_the_watermark_passes_their_window():
    engine = _engine()
    assert engine.process(0, [Firing(PAY, "acct-1", T0)]).decisions == []
    assert engine.process(0, [Firing(PAY, "acct-2", T0 + 54 * MIN)]).decisions == []  # same window: still open
    out = engine.process(0, [], advance_to=T0 + 55 * MIN)  # 11:00, the window's end
    assert sorted(d.account_id for d in out.decisions) == ["acct-1", "acct-2"]


def test_redelivered_offsets_are_skipped():
    engine = _engine()
    fs = [Firing(PAY, f"acct-{i}", T0 + i * HOUR) for i in range(4)]
    engine.process(0, fs[:3], offsets=[10, 11, 12])
    out = engine.process(0, fs, offsets=[10, 11, 12, 13])
    assert out.redelivered == 3 and out.duplicates == 0
    assert [d.account_id for d in out.decisions] == ["acct-2"]


def test_stale_firings_behind_the_dedupe_horizon_are_dropped_not_decided():
    engine = _engine(PolicyConfig(default_holdout=0.0, dedupe_horizon_us=2 * DAY))
    engine.process(0, [Firing(PAY, "acct-1", T0 + 10 * DAY)])
    out = engine.process(0, [Firing(PAY, "acct-2", T0)])
    assert out.stale == 1 and out.decisions == []


def test_each_chunk_costs_two_reads_and_one_write():
    store = InMemoryPolicyStore()
    engine = _engine(store=store)
    rng = random.Random(5)
    fs = sorted((Firing(rng.choice([PAY, ONB, QUIET]), f"acct-{rng.randrange(50)}", T0 + rng.randrange(30 * DAY))
                 for _ in range(600)), key=lambda f: f.fired_at)
    for i in range(0, len(fs), 37):
        before = (store.reads, store.writes)
        engine.process(0, fs[i:i + 37])
        assert (store.reads - before[0], store.writes - before[1]) == (2, 1)


def test_account_state_stays_small_over_a_long_history():
    store = InMemoryPolicyStore()
    engine = _engine(store=store)
    for day in range(365):
        engine.process(0, [Firing(t, "acct-1", T0 + day * DAY + k * MIN) for k, t in enumerate([PAY, ONB, QUIET])])
    # Pruned to the dedupe horizon (30 d of ids) plus contacts within the longest rule: a few kB, not a year.
    assert len(store.account_blob("acct-1")) < 8_000


def _decide_all(firings, chunks, policy=NO_HOLDOUT):
    engine = _engine(policy)
    decisions, i = [], 0
    for size in chunks:
        decisions += engine.process(0, firings[i:i + size]).decisions
        i += size
    decisions += engine.process(0, firings[i:]).decisions + engine.flush(0).decisions
    return sorted(d.model_dump_json() for d in decisions)


firing_lists = st.lists(
    st.tuples(st.sampled_from([PAY, ONB, QUIET, "model_drop"]), st.integers(0, 5), st.integers(0, 20 * 24 * 60)),
    min_size=1, max_size=60,
)


@settings(max_examples=80, deadline=None)
@given(firing_lists, st.lists(st.integers(1, 10), max_size=20), st.integers(0, 3), st.integers(0, 4 * 60))
def test_decisions_do_not_depend_on_chunking_or_redelivered_copies(raw, chunks, dup_seed, disorder_min):
    """Topic order is fired_at order disturbed by up to ``disorder_min`` (so some firings come late)."""
    rng = random.Random(dup_seed)
    fs = sorted((Firing(t, f"acct-{a}", T0 + m * MIN) for t, a, m in raw),
                key=lambda f: f.fired_at + rng.randrange(disorder_min + 1) * MIN)
    with_dups = list(fs)
    for f in rng.sample(fs, k=min(dup_seed, len(fs))):
        with_dups.insert(rng.randrange(with_dups.index(f) + 1, len(with_dups) + 1), f)
    policy = PolicyConfig(default_holdout=0.3, quiet_hours=QuietHours(21 * 60, 8 * 60, "Europe/Berlin"))
    one_chunk = _decide_all(fs, [], policy)
    assert _decide_all(with_dups, chunks, policy) == one_chunk
    assert len(one_chunk) == len({f.firing_id for f in fs})  # one decision per distinct firing


def test_every_decision_and_command_the_engine_builds_passes_its_contract():
    """The engine skips pydantic validation for speed; this is the check it relies on."""
    from schemas.command import InterventionCommand
    from schemas.decision import Decision

    rng = random.Random(9)
    policy = PolicyConfig(default_holdout=0.3, quiet_hours=QuietHours(21 * 60, 8 * 60, "Europe/Berlin"))
    engine = _engine(policy)
    fs = sorted((Firing(rng.choice([PAY, ONB, QUIET, "model_drop"]), f"acct-{rng.randrange(40)}",
                        T0 + rng.randrange(60 * DAY), {"count": rng.randrange(5)}) for _ in range(800)),
                key=lambda f: f.fired_at)
    out = engine.process(0, fs)
    rest = engine.flush(0)
    decisions, commands = out.decisions + rest.decisions, out.commands + rest.commands
    assert {d.arm for d in decisions} == {"treated", "control", "suppressed"} and commands
    for d in decisions:
        assert Decision.model_validate_json(d.model_dump_json()) == d
    for c in commands:
        assert InterventionCommand.model_validate_json(c.model_dump_json()) == c
    treated = {d.command_id for d in decisions if d.arm == "treated"}
    assert treated == {c.command_id for c in commands}


def test_watermark_markers_apply_where_the_topic_has_them_so_chunk_cuts_change_nothing():
    """A marker, then a firing dated before it (an event late within the lateness): as one chunk or cut
    at the marker, the same decisions — the marker closes the first window before the late firing comes."""
    t0 = parse_rfc3339("2026-03-02T10:30:00Z")
    onb, pay = Firing(ONB, "acct-1", t0), Firing(PAY, "acct-1", t0 + 28 * MIN)
    marker_1, marker_2 = t0 + 32 * MIN, t0 + 40 * MIN

    def run(chunks) -> list[tuple[str, str]]:
        engine = _engine()
        out = []
        for firings, offsets, marks in chunks:
            out += engine.process(0, firings, offsets, marks=marks).decisions
        return sorted((d.trigger, _outcome(d)) for d in out)

    whole = run([([onb, pay], [0, 2], [(1, marker_1), (2, marker_2)])])
    cut = run([([onb], [0], [(1, marker_1)]), ([pay], [2], [(1, marker_2)])])
    assert whole == cut == [(ONB, "treated"), (PAY, "window_taken")]
