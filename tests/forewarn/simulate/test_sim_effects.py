"""The planted treatment effect is visible in the events, by the planted amount, and the truth knows it.

For each seed trigger: run once without interventions to learn the firings;
then twice more, with one command per firing at its ``fired_at`` — once with the
effect off (lift 0) and once on. Success is measured from the emitted events
alone. With the same seed the two runs differ only where an intervention rescued
a customer, so the success rates differ by exactly the rescues, whose count is
binomial with the planted per-account lift.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from forewarn.simulate import NoiseOptions, Simulation, SimulationConfig, run_simulation
from schemas.event import Event, parse_event
from schemas.timefmt import US_PER_DAY

CORE = ("reports", "dashboards", "integrations")

CASES = {
    # trigger: (population, accounts, days, lift, wanted event, success window in days)
    "onboarding_stalled": ({"new_late_adopter": 1, "new_never_adopter": 1}, 600, 40, 0.3, "core", 7),
    "payment_failing": ({"payment_failing": 1}, 300, 50, 0.5, "payment.succeeded", 7),
    "power_user_gone_quiet": ({"quiet_returns_late": 1, "quiet_churns": 1}, 200, 70, 0.4, "activity", 14),
}


class Recorder:
    """A sink that keeps the parsed valid events of the types a success metric looks at."""

    MARKERS = (b'"type":"feature.used"', b'"type":"session.started"', b'"type":"payment.succeeded"')

    def __init__(self):
        self.events: dict[str, list[Event]] = defaultdict(list)

    def __call__(self, records) -> None:
        for _, value in records:
            if any(m in value for m in self.MARKERS):
                ev = parse_event(value)
                if isinstance(ev, Event):
                    self.events[ev.account_id].append(ev)

    def succeeded(self, account: str, wanted: str, start: int, end: int) -> bool:
        for ev in self.events.get(account, ()):
            if not start <= ev.ts < end:
                continue
            if wanted == "core" and ev.type == "feature.used" and ev.properties.get("feature") in CORE:
                return True
            if wanted == "activity" and ev.type in ("feature.used", "session.started"):
                return True
            if wanted == ev.type:
                return True
        return False


def _simulate(trigger: str, lift: float, commands=None):
    population, accounts, days, _, _, _ = CASES[trigger]
    config = SimulationConfig(accounts=accounts, days=days, seed=21, persona_weights=population,
                              lifts={trigger: lift}, noise=NoiseOptions(0.01, 0.02, 0.001))
    sim = Simulation(config)
    recorder = Recorder()
    truth = run_simulation(sim, recorder, commands)
    return sim, truth, recorder


@pytest.mark.parametrize("trigger", list(CASES))
def test_planted_effect_moves_the_success_rate_by_the_planted_amount(trigger):
    _, _, _, lift, wanted, window_days = CASES[trigger]
    _, base, _ = _simulate(trigger, 0.0)
    commands = [
        {"command_id": f"cmd-{f.firing_id}", "account_id": f.account_id, "trigger": f.trigger,
         "intervention": "outreach", "decided_at": f.fired_at}
        for f in base.firings if f.trigger == trigger
    ]
    off_sim, off, off_events = _simulate(trigger, 0.0, commands)
    on_sim, on, on_events = _simulate(trigger, lift, commands)
    # Interventions without effect change nothing the triggers see.
    assert [f.firing_id for f in off.firings] == [f.firing_id for f in base.firings]

    end = off_sim.calendar.end_us
    window = window_days * US_PER_DAY
    complete = [c for c in commands if c["decided_at"] + window <= end]
    assert len(complete) >= 100, "too few interventions with a whole success window to measure"
    lifts = {t["command_id"]: t["lift"] for t in on.treatments}
    natural = {t["command_id"]: t["natural_success"] for t in on.treatments}

    def rate_of(recorder):
        return {c["command_id"]: recorder.succeeded(c["account_id"], wanted, c["decided_at"], c["decided_at"] + window)
                for c in complete}

    without, with_effect = rate_of(off_events), rate_of(on_events)
    # The truth's counterfactual is what really happens without the intervention.
    assert all(natural[cid] == ok for cid, ok in without.items())
    assert all(t["success"] == without[t["command_id"]] for t in off.treatments if t["command_id"] in without)
    # An intervention only ever adds success.
    assert not [cid for cid, ok in without.items() if ok and not with_effect[cid]]

    would_fail = [cid for cid, ok in without.items() if not ok]
    rescued = sum(1 for cid in would_fail if with_effect[cid])
    expected = sum(lifts[cid] for cid in would_fail)
    sd = math.sqrt(sum(lifts[cid] * (1 - lifts[cid]) for cid in would_fail))
    n = len(complete)
    rate_off = sum(without.values()) / n
    rate_on = sum(with_effect.values()) / n
    assert rate_on - rate_off == pytest.approx(rescued / n)
    z = (rescued - expected) / sd
    assert abs(z) < 3.5, (
        f"{trigger}: success rate {rate_off:.3f} -> {rate_on:.3f}; planted {expected / n:.3f} ± {sd / n:.3f}, z={z:.2f}"
    )
    assert rate_on - rate_off > 3 * sd / n  # and the effect is clearly there
