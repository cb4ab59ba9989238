"""The closed loop: commands in, changed customers out — and nobody else changed."""

from __future__ import annotations

from collections import defaultdict
from statistics import median

import orjson
import pytest

from forewarn.simulate import (
    CommandError,
    NoiseOptions,
    Simulation,
    SimulationConfig,
    SimulationError,
    read_commands,
)
from schemas.event import Event, parse_event
from schemas.timefmt import US_PER_DAY, parse_rfc3339


def _config(**overrides) -> SimulationConfig:
    return SimulationConfig(**{"accounts": 200, "days": 25, "seed": 4, **overrides})


def _drive(sim: Simulation, feed_before_day: dict[int, list[dict]] | None = None) -> list[Event]:
    """Step a simulation to its end like a live driver; return its unique valid events."""
    seen, events = set(), []
    while not sim.done:
        if feed_before_day and sim.next_day in feed_before_day:
            sim.feed(feed_before_day[sim.next_day])
        for _, value in sim.step().records:
            ev = parse_event(value)
            if isinstance(ev, Event) and ev.event_id not in seen:
                seen.add(ev.event_id)
                events.append(ev)
    return events


def _command(account: str, decided_at: str, cid: str = "c1", trigger: str = "power_user_gone_quiet") -> dict:
    return {"command_id": cid, "account_id": account, "trigger": trigger, "intervention": "we_miss_you",
            "decided_at": decided_at}


def _by_account(events: list[Event]) -> dict[str, set[tuple]]:
    out = defaultdict(set)
    for ev in events:
        out[ev.account_id].add((ev.event_id, ev.type, ev.ts, orjson.dumps(ev.properties)))
    return out


def test_a_command_changes_only_its_own_account():
    quiet = _by_account(_drive(Simulation(_config())))
    treated = ["acct-00010", "acct-00020"]
    commands = [_command(a, "2026-01-10T12:00:00Z", f"c-{a}") for a in treated]
    loud_sim = Simulation(_config(lifts={"power_user_gone_quiet": 1.0}))
    loud = _by_account(_drive(loud_sim, {5: commands}))
    for account in quiet:
        if account in treated:
            assert loud[account] != quiet[account]
        else:
            assert loud[account] == quiet[account], f"{account} changed though nobody contacted it"
    assert [t.account_id for t in loud_sim.treatments] == treated
    assert all(t.rescued_at is not None for t in loud_sim.treatments)  # lift 1: every customer answers


def test_outreach_opens_a_proactive_ticket_that_resolves_faster_than_inbound_ones():
    sim = Simulation(_config(accounts=400, days=30, lifts={"*": 0.0}))
    commands = {d: [_command(f"acct-{i:05d}", f"2026-01-{d:02d}T08:00:00Z", f"c-{d}-{i}", "model_drop")
                    for i in range(d * 10, d * 10 + 10)] for d in range(2, 20)}
    events = _drive(sim, commands)
    opened = {ev.properties["ticket_id"]: ev for ev in events if ev.type == "ticket.opened"}
    resolved = {ev.properties["ticket_id"]: ev for ev in events if ev.type == "ticket.resolved"}
    proactive = [t for t, ev in opened.items() if ev.properties["origin"] == "proactive"]
    inbound = [t for t, ev in opened.items() if ev.properties["origin"] == "inbound"]
    assert len(proactive) == len(sim.treatments) == 180
    ids = {t.command_id for t in sim.treatments}
    assert {opened[t].properties["intervention_id"] for t in proactive} == ids
    assert all(resolved[t].properties["intervention_id"] == opened[t].properties["intervention_id"]
               for t in proactive if t in resolved)
    assert len(inbound) >= 20
    hours = {kind: [(resolved[t].ts - opened[t].ts) / 3.6e9 for t in tickets if t in resolved]
             for kind, tickets in (("proactive", proactive), ("inbound", inbound))}
    assert median(hours["proactive"]) * 3 < median(hours["inbound"])


def test_a_late_command_takes_effect_from_the_next_day_generated():
    sim = Simulation(_config(lifts={"power_user_gone_quiet": 1.0}))
    for _ in range(10):
        sim.step()
    sim.feed([_command("acct-00003", "2026-01-02T09:00:00Z")])
    sim.step()
    (treatment,) = sim.treatments
    assert treatment.decided_at == parse_rfc3339("2026-01-02T09:00:00Z")
    assert treatment.applied_at == sim.calendar.day_start(10)
    assert treatment.rescued_at >= treatment.applied_at


def test_a_future_command_waits_for_its_day():
    sim = Simulation(_config())
    sim.feed([_command("acct-00003", "2026-01-08T09:00:00Z")])
    for _ in range(7):
        sim.step()
        assert sim.treatments == []
    sim.step()
    assert [t.applied_at for t in sim.treatments] == [parse_rfc3339("2026-01-08T09:00:00Z")]


def test_feed_counts_repeats_and_strangers_and_refuses_broken_commands():
    sim = Simulation(_config())
    report = sim.feed([_command("acct-00001", "2026-01-02T00:00:00Z", "a"),
                       _command("acct-00001", "2026-01-02T00:00:00Z", "a"),
                       _command("acct-99999", "2026-01-02T00:00:00Z", "b")])
    assert (report.accepted, report.duplicates, report.unknown_accounts) == (1, 1, 1)
    with pytest.raises(CommandError, match="decided_at"):
        sim.feed([{"command_id": "x", "account_id": "acct-00001", "trigger": "t", "intervention": "i",
                   "decided_at": "2026-01-02T00:00:00"}])
    with pytest.raises(CommandError, match="missing intervention"):
        sim.feed([{"command_id": "x", "account_id": "acct-00001", "trigger": "t", "decided_at": 0}])


def test_command_files_name_the_bad_line(tmp_path):
    path = tmp_path / "commands.jsonl"
    path.write_text(orjson.dumps(_command("acct-00001", "2026-01-02T00:00:00Z")).decode() + "\n\n{not json\n")
    with pytest.raises(CommandError, match=r"commands.jsonl:3: not JSON"):
        list(read_commands(path))
    path.write_text('{"command_id": "z"}\n')
    with pytest.raises(CommandError, match=r"commands.jsonl:1: command z: missing account_id"):
        list(read_commands(path))


def test_stepping_past_the_last_day_is_an_error():
    sim = Simulation(_config(days=1, noise=NoiseOptions(0, 0, 0)))
    batch = sim.step()
    assert batch.end_us - batch.start_us == US_PER_DAY
    with pytest.raises(SimulationError, match="all 1 days"):
        sim.step()


def test_treatment_truth_names_window_and_outcome():
    sim = Simulation(_config(lifts={"power_user_gone_quiet": 1.0}))
    sim.feed([_command("acct-00007", "2026-01-05T10:00:00Z")])
    _drive(sim)
    (row,) = sim.truth().treatments
    assert row["window_end"] == "2026-01-19T10:00:00Z"
    assert row["window_complete"] is True
    assert row["success"] is True
    assert row["lift"] == 1.0 * {"quiet_churns": 0.5, "slow_decline": 0.5}.get(
        sim.account("acct-00007").plan.persona, 1.0)


def test_the_command_contract_model_is_fed_as_is():
    from schemas.command import InterventionCommand, command_id

    cmd = InterventionCommand(
        command_id=command_id("f" * 32), firing_id="f" * 32, account_id="acct-00002",
        trigger="onboarding_stalled", intervention="onboarding_checkin", channel="email",
        payload={"content": {"subject": "Getting started"}, "evidence": {}},
        decided_at="2026-01-03T00:00:00Z", expires_at="2026-01-05T00:00:00Z")
    sim = Simulation(_config())
    assert sim.feed([cmd]).accepted == 1
    sim.step(), sim.step(), sim.step()
    assert [(t.command_id, t.decided_at) for t in sim.treatments] == [
        (cmd.command_id, parse_rfc3339("2026-01-03T00:00:00Z"))]
