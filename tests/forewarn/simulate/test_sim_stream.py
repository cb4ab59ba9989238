"""A generated run read back the way a pipeline reads it: contract, counts, truth, boundaries."""

from __future__ import annotations

from collections import Counter, defaultdict

import orjson
import pytest

from forewarn.simulate import NoiseOptions, SimulationConfig, reference_firings, simulate_to_dir
from forewarn.simulate.delivery import MALFORMED_REASONS
from schemas.event import Event, EventError, parse_event
from schemas.firing import firing_id
from schemas.timefmt import US_PER_DAY, US_PER_SECOND, parse_rfc3339

CONFIG = SimulationConfig(accounts=1000, days=50, seed=11, noise=NoiseOptions(malformed_share=0.004))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    truth = simulate_to_dir(CONFIG, out)
    lines = (out / "events.jsonl").read_bytes().splitlines()
    parsed = [parse_event(line) for line in lines]
    return out, truth, lines, parsed


def valid(parsed) -> list[Event]:
    return [p for p in parsed if isinstance(p, Event)]


def unique_by_account(parsed) -> dict[str, list[Event]]:
    seen, accounts = set(), defaultdict(list)
    for ev in valid(parsed):
        if ev.event_id not in seen:
            seen.add(ev.event_id)
            accounts[ev.account_id].append(ev)
    for events in accounts.values():
        events.sort(key=lambda e: e.ts)
    return accounts


def test_every_line_is_an_event_or_a_counted_malformed_line(run):
    _, truth, lines, parsed = run
    noise = truth.summary["noise"]
    assert len(lines) == noise["lines"]
    refused = Counter(p.reason for p in parsed if isinstance(p, EventError))
    assert dict(refused) == noise["malformed_by_reason"]
    assert set(refused) == set(MALFORMED_REASONS)
    ids = Counter(p.event_id for p in valid(parsed))
    assert len(ids) == noise["events"]
    assert sum(ids.values()) - len(ids) == noise["duplicate_lines"]
    by_type = Counter(ev.type for ev in {ev.event_id: ev for ev in valid(parsed)}.values())
    assert dict(by_type) == truth.summary["events_by_type"]


def test_valid_lines_are_canonical_json_with_z_timestamps(run):
    _, _, lines, parsed = run
    for line, ev in zip(lines, parsed):
        if isinstance(ev, Event):
            assert orjson.dumps(orjson.loads(line)) == line
            assert orjson.loads(line)["occurred_at"].endswith("Z")


def test_tickets_say_where_they_come_from(run):
    _, _, _, parsed = run
    tickets = [ev for ev in valid(parsed) if ev.type.startswith("ticket.")]
    assert tickets
    assert {ev.properties["origin"] for ev in tickets} == {"inbound"}  # nobody intervened in this run
    opened = {ev.properties["ticket_id"]: ev.ts for ev in tickets if ev.type == "ticket.opened"}
    for ev in tickets:
        if ev.type == "ticket.resolved":
            assert ev.ts > opened[ev.properties["ticket_id"]]


def test_truth_firings_equal_the_reference_over_the_noisy_file(run):
    out, truth, _, parsed = run
    from_file = reference_firings(valid(parsed))
    assert [(f.trigger, f.account_id, f.fired_at) for f in from_file] == \
        [(f.trigger, f.account_id, f.fired_at) for f in truth.firings]
    written = [orjson.loads(line) for line in (out / "truth" / "firings.jsonl").read_bytes().splitlines()]
    assert [set(w) for w in written[:1]] == [{"firing_id", "trigger", "account_id", "fired_at"}]
    assert [w["firing_id"] for w in written] == [f.firing_id for f in truth.firings]
    for w in written[:50]:
        assert w["firing_id"] == firing_id(w["account_id"], w["trigger"], parse_rfc3339(w["fired_at"]))
    keys = [(parse_rfc3339(w["fired_at"]), w["account_id"], w["trigger"]) for w in written]
    assert keys == sorted(keys)
    assert max(k[0] for k in keys) <= max(ev.ts for ev in valid(parsed))
    assert set(truth.firing_counts) == {"onboarding_stalled", "payment_failing", "power_user_gone_quiet"}
    assert all(n > 0 for n in truth.firing_counts.values())


def test_no_tie_that_could_change_a_firing(run):
    _, _, _, parsed = run
    for events in unique_by_account(parsed).values():
        money = Counter(ev.ts for ev in events if ev.type.startswith(("payment.", "subscription.")))
        assert max(money.values(), default=1) == 1
        onboarded = [ev.ts for ev in events if ev.type == "account.onboarded"]
        if onboarded:
            assert all(ev.ts > onboarded[0] for ev in events if ev.type in ("session.started", "feature.used"))


def test_the_stream_walks_each_trigger_boundary(run):
    """Plans put accounts on both sides of the 7-day and 30-day boundaries; the truth decides them."""
    _, truth, _, parsed = run
    fired = {(f.account_id, f.trigger) for f in truth.firings}
    core = set(CONFIG.core_features)
    onboarding_cases = Counter()
    payment_cases = Counter()
    for acct, events in unique_by_account(parsed).items():
        onboarded = [ev.ts for ev in events if ev.type == "account.onboarded"]
        if onboarded:
            first_core = next((ev.ts for ev in events if ev.type == "feature.used"
                               and ev.properties["feature"] in core), None)
            if first_core == onboarded[0] + 7 * US_PER_DAY:
                onboarding_cases["exactly 7 d"] += 1
                assert (acct, "onboarding_stalled") in fired
            if first_core == onboarded[0] + 7 * US_PER_DAY - 60 * US_PER_SECOND:
                onboarding_cases["6 d 23 h 59 m"] += 1
                assert (acct, "onboarding_stalled") not in fired
        fails = [ev.ts for ev in events if ev.type == "payment.failed"]
        if len(fails) >= 3 and fails[2] - fails[0] == 30 * US_PER_DAY:
            payment_cases["exactly 30 d"] += 1
            assert (acct, "payment_failing") not in fired
        if len(fails) >= 3 and fails[2] - fails[0] == 30 * US_PER_DAY - US_PER_SECOND:
            payment_cases["30 d - 1 s"] += 1
            assert (acct, "payment_failing") in fired
    assert onboarding_cases["exactly 7 d"] and onboarding_cases["6 d 23 h 59 m"]
    assert payment_cases["exactly 30 d"] and payment_cases["30 d - 1 s"]


def test_truth_accounts_describe_every_account(run):
    out, truth, _, _ = run
    rows = [orjson.loads(line) for line in (out / "truth" / "accounts.jsonl").read_bytes().splitlines()]
    assert len(rows) == CONFIG.accounts
    assert Counter(r["persona"] for r in rows) == Counter(truth.summary["personas"])
    churned = [r for r in rows if r["churned_at"]]
    assert len(churned) == truth.summary["churned_accounts"] > 0
    assert all(r["natural_churn_at"] == r["churned_at"] for r in churned)  # nobody intervened
    assert all(r["decline_started"] for r in rows if r["persona"] == "slow_decline")
    assert all(set(r["lifts"]) >= {"onboarding_stalled", "payment_failing", "power_user_gone_quiet"} for r in rows)
