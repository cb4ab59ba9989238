"""Events and event streams for the detector tests: hand-written cases and random populations."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from detectors.engine import Engine
from detectors.memory_store import MemoryStore
from schemas.event import Event
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, parse_rfc3339
# The default file also holds the policy, channels and costs sections: read it as every command does.
from streams.config import load_config

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "deploy" / "config" / "forewarn.yaml"
DAY, HOUR, MINUTE = US_PER_DAY, US_PER_HOUR, US_PER_MINUTE
T0 = parse_rfc3339("2026-01-05T09:00:00Z")
LATENESS = 5 * MINUTE

_ids = itertools.count()


def ev(account: str, kind: str, at: int, feature: str | None = None, event_id: str | None = None) -> Event:
    """One event; ``at`` in epoch µs."""
    props = {"feature": feature} if feature is not None else {}
    return Event(event_id or f"e{next(_ids)}", account, kind, at, None, props)


def default_engine(**overrides) -> Engine:
    return Engine.from_config(load_config(DEFAULT_CONFIG), **overrides)


def run(events, *, until=None, chunk=None, engine=None, store=None, partition=0):
    """Feed ``events`` in the given (arrival) order in chunks, advance to ``until`` (default: the largest
    event time), and return (firings as (account, trigger, fired_at) tuples, the full result list, store)."""
    engine = engine or default_engine()
    store = store if store is not None else MemoryStore()
    results = []
    size = chunk or max(1, len(events))
    for i in range(0, len(events), size):
        results.append(engine.process_chunk(partition, events[i:i + size], store))
    if until is None:
        until = max((e.ts for e in events), default=0)
    results.append(engine.advance_to(partition, until, store))
    fired = [(f.account_id, f.trigger, f.fired_at) for r in results for f in r.firings]
    return fired, results, store


def population(seed: int, *, accounts: int = 4, days: int = 45, grid: int = HOUR) -> list[Event]:
    """A random event history in event-time order, dense enough to hit every seed trigger.

    Times are rounded to ``grid`` so that events of different types often share an
    instant and sit exactly 7, 10 or 30 days apart — the boundaries the rules care about.
    """
    rnd = random.Random(seed)
    events: list[Event] = []
    features = ["reports", "dashboards", "integrations", "settings", "export"]
    for a in range(accounts):
        acct = f"acct-{seed % 997}-{a}"
        start = T0 + rnd.randrange(0, 5) * DAY
        density = rnd.choice([0.2, 0.6, 0.85, 1.0])
        if rnd.random() < 0.8:
            events.append(ev(acct, "account.onboarded", start + rnd.randrange(0, 3 * DAY // grid) * grid))
            if rnd.random() < 0.2:  # a second onboarding: only the first counts
                events.append(ev(acct, "account.onboarded", start + rnd.randrange(0, 20 * DAY // grid) * grid))
        quiet_from = rnd.randrange(10, days + 5)
        if rnd.random() < 0.3:  # failures on a fixed cadence: three of them span exactly 2 x cadence
            cadence = rnd.choice([10, 14, 15, 16, 29, 30])
            for k in range(rnd.randrange(2, 5)):
                events.append(ev(acct, "payment.failed", start + k * cadence * DAY))
        for d in range(days):
            if d >= quiet_from and rnd.random() < 0.9:
                continue
            if rnd.random() < density:
                for _ in range(rnd.randrange(1, 4)):
                    at = start + d * DAY + rnd.randrange(0, DAY // grid) * grid
                    if rnd.random() < 0.5:
                        events.append(ev(acct, "session.started", at))
                    else:
                        events.append(ev(acct, "feature.used", at, rnd.choice(features)))
            if rnd.random() < 0.12:
                events.append(ev(acct, "payment.failed", start + d * DAY + rnd.randrange(0, DAY // grid) * grid))
            if rnd.random() < 0.03:
                events.append(ev(acct, rnd.choice(["payment.succeeded", "subscription.canceled"]),
                                 start + d * DAY + rnd.randrange(0, DAY // grid) * grid))
            if rnd.random() < 0.05:
                events.append(ev(acct, "ticket.opened", start + d * DAY + rnd.randrange(0, DAY // grid) * grid))
    events.sort(key=lambda e: e.ts)
    return events


def arrival_order(events: list[Event], seed: int, *, lateness: int = LATENESS, duplicates: float = 0.0) -> list[Event]:
    """The same events delivered out of order, each at most ``lateness`` (exclusive) behind, plus redeliveries.

    Each event gets a delivery delay in [0, lateness); delivery is in order of
    time + delay, so no event is ever later than the allowed lateness.
    """
    rnd = random.Random(seed)
    keyed = []
    for e in events:
        keyed.append((e.ts + rnd.randrange(0, max(1, lateness)), rnd.random(), e))
        if rnd.random() < duplicates:
            keyed.append((e.ts + rnd.randrange(0, max(1, lateness)), rnd.random(), e))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [k[2] for k in keyed]
