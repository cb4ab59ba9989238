"""truth/accounts.jsonl says what happened in the events, not what the account's plan intended."""

from __future__ import annotations

import orjson

from forewarn.simulate import NoiseOptions, Simulation, SimulationConfig, run_simulation
from schemas.timefmt import format_rfc3339, parse_rfc3339

CONFIG = dict(accounts=400, days=60, seed=5, noise=NoiseOptions(0, 0, 0),
              lifts={"onboarding_stalled": 1.0, "*": 0.1})


def _first_core_uses(records, core) -> dict[str, str]:
    first: dict[str, int] = {}
    for _, value in records:
        e = orjson.loads(value)
        if e["type"] == "feature.used" and e["properties"]["feature"] in core:
            ts = parse_rfc3339(e["occurred_at"])
            first[e["account_id"]] = min(first.get(e["account_id"], ts), ts)
    return {a: format_rfc3339(ts) for a, ts in first.items()}


def test_first_core_feature_at_is_the_first_core_feature_event_written():
    config = SimulationConfig(**CONFIG)
    stalled = [f for f in run_simulation(Simulation(config), lambda r: None).firings
               if f.trigger == "onboarding_stalled"]
    commands = [{"command_id": f"c{i}", "account_id": f.account_id, "trigger": f.trigger,
                 "intervention": "onboarding_checkin", "decided_at": f.fired_at} for i, f in enumerate(stalled)]
    records: list = []
    truth = run_simulation(Simulation(config), records.extend, commands)
    first = _first_core_uses(records, set(config.core_features))
    onboarded = [a for a in truth.accounts if a["onboarded_at"] is not None]
    assert [(a["account_id"], a["first_core_feature_at"]) for a in onboarded] == \
        [(a["account_id"], first.get(a["account_id"])) for a in onboarded]
    # The cases the plan got wrong: rescued non-adopters, and adoptions planned after the run's end.
    end = truth.summary["end"]
    rescued = [a for a in onboarded if a["rescued_at"] is not None and a["rescued_at"] < end]
    assert rescued and all(a["first_core_feature_at"] is not None and a["first_core_feature_at"] <= a["rescued_at"]
                           for a in rescued)
    assert any(a["first_core_feature_at"] is None and a["persona"] != "new_never_adopter" for a in onboarded)
    assert all(a["first_core_feature_at"] is None for a in truth.accounts if a["onboarded_at"] is None)
