"""A tiny seeded world with planted effects, for checking the report against a known truth.

Each account gets one firing of ``payment_failing`` on a random day of the
first ``decide_days``; the holdout puts ``control_share`` of them in control.
What happens next is drawn from fixed probabilities, so the true effects are
known in closed form:

* success (a ``payment.succeeded`` within 7 days): control ``p0``, treated
  ``p0 + lift·(1 − p0)`` — true uplift ``lift·(1 − p0)``;
* churn: daily hazard ``hazard`` in control, ``hazard·hazard_ratio`` treated;
* inbound tickets: a Poisson-like count per week at ``ticket_rate`` (control)
  and ``ticket_rate·ticket_ratio`` (treated) after the decision, each resolved
  after a log-normal time with median ``inbound_median_h``; the intervention
  opens a proactive ticket resolved after a median ``proactive_median_h``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from random import Random

import orjson

from interventions.measurement.decisions import DecisionRecord
from schemas.event import Event
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, format_rfc3339, parse_rfc3339

START = parse_rfc3339("2026-01-05T00:00:00Z")  # a Monday


@dataclass(frozen=True)
class World:
    accounts: int = 1500
    days: int = 150
    decide_days: int = 40
    control_share: float = 0.3
    p0: float = 0.3
    lift: float = 0.3
    hazard: float = 0.004
    hazard_ratio: float = 0.5
    ticket_rate: float = 0.2
    ticket_ratio: float = 0.6
    inbound_median_h: float = 20.0
    proactive_median_h: float = 2.5
    seed: int = 1

    @property
    def true_uplift(self) -> float:
        return self.lift * (1 - self.p0)

    def true_retention_difference(self, days: float = 90.0) -> float:
        return math.exp(-self.hazard * self.hazard_ratio * days) - math.exp(-self.hazard * days)

    @property
    def until(self) -> int:
        return START + self.days * US_PER_DAY


def generate(world: World) -> tuple[list[DecisionRecord], list[Event]]:
    rng = Random(world.seed)
    decisions: list[DecisionRecord] = []
    events: list[Event] = []
    end = world.until
    seq = 0

    def emit(account: str, kind: str, ts: int, props: dict | None = None) -> None:
        nonlocal seq
        if ts < end:
            seq += 1
            events.append(Event(f"ev-{seq}", account, kind, ts, None, props or {}))

    for i in range(world.accounts):
        account = f"acct-{i:05d}"
        for week in range(world.days // 7):
            emit(account, "session.started", START + (week * 7 + rng.randrange(7)) * US_PER_DAY + 9 * US_PER_HOUR)
        decided = START + rng.randrange(world.decide_days * 24) * US_PER_HOUR
        arm = "control" if rng.random() < world.control_share else "treated"
        treated = arm == "treated"
        decisions.append(DecisionRecord(f"fire-{i}", account, "payment_failing", "payment_outreach", arm, decided,
                                        f"cmd-{i}" if arm == "treated" else None))
        p = world.p0 + (world.lift * (1 - world.p0) if treated else 0.0)
        if rng.random() < p:
            emit(account, "payment.succeeded", decided + rng.randrange(1, 7 * 24 - 1) * US_PER_HOUR,
                 {"amount_usd": 100})
        else:
            emit(account, "payment.succeeded", decided + 8 * US_PER_DAY, {"amount_usd": 100})  # too late to count
        hazard = world.hazard * (world.hazard_ratio if treated else 1.0)
        churn = decided + int(rng.expovariate(hazard) * US_PER_DAY)
        emit(account, "subscription.canceled", churn)
        rate = world.ticket_rate * (world.ticket_ratio if treated else 1.0)
        t = decided
        n = 0
        while True:
            t += int(rng.expovariate(rate / 7) * US_PER_DAY)
            if t >= min(end, churn):
                break
            n += 1
            ticket = f"{account}-in{n}"
            emit(account, "ticket.opened", t, {"ticket_id": ticket, "origin": "inbound"})
            emit(account, "ticket.resolved", t + int(rng.lognormvariate(math.log(world.inbound_median_h), 0.8)
                                                     * US_PER_HOUR), {"ticket_id": ticket, "origin": "inbound"})
        if treated:
            ticket = f"{account}-pro"
            opened = decided + US_PER_HOUR
            emit(account, "ticket.opened", opened, {"ticket_id": ticket, "origin": "proactive"})
            emit(account, "ticket.resolved", opened + int(rng.lognormvariate(math.log(world.proactive_median_h), 0.8)
                                                          * US_PER_HOUR), {"ticket_id": ticket})
    rng.shuffle(events)  # arrival order must not matter to the report
    return decisions, events


def write_files(decisions: list[DecisionRecord], events: list[Event], directory) -> tuple:
    """The decision log and the events as the pipeline would leave them (JSON Lines)."""
    from schemas.event import event_to_json

    ev_path = directory / "events.jsonl"
    dec_path = directory / "decisions.jsonl"
    ev_path.write_bytes(b"".join(event_to_json(e) + b"\n" for e in events))
    dec_path.write_bytes(b"".join(orjson.dumps({
        "firing_id": d.firing_id, "account_id": d.account_id, "trigger": d.trigger,
        "intervention": d.intervention, "arm": d.arm, "decided_at": format_rfc3339(d.decided_at),
        **({"command_id": d.command_id} if d.command_id else {}),
    }) + b"\n" for d in decisions))
    return ev_path, dec_path
