"""Synthetic event streams for the drop-off tests: plain Python, seeded, small."""

from __future__ import annotations

import random

from detectors.online.detector import DropOffDetector
from detectors.online.drop_z import DropZScorer
from detectors.online.episodes import EpisodePolicy
from detectors.online.rate_drop import RateDropScorer
from detectors.online.threshold import QuantileThreshold
from schemas.event import Event
from schemas.timefmt import US_PER_DAY, US_PER_MINUTE, US_PER_SECOND

DAY = US_PER_DAY
LATENESS = 5 * US_PER_MINUTE
T0_DAY = 20_454  # 2026-01-01
FEATURES = ("reports", "dashboards", "exports", "search", "comments")


def account_days(rnd: random.Random, account: str, days: range, p_active: float, users: int,
                 silent_from: int | None = None, ticket_p: float = 0.01) -> list[Event]:
    """One account's events: on an active day a few sessions and feature uses by a few users."""
    out: list[Event] = []
    seq = 0
    for d in days:
        base = (T0_DAY + d) * DAY
        if silent_from is not None and d >= silent_from:
            continue
        if rnd.random() < p_active:
            for u in range(users):
                if u and rnd.random() < 0.5:
                    continue
                t = base + rnd.randrange(0, DAY // US_PER_SECOND) * US_PER_SECOND
                seq += 1
                out.append(Event(f"{account}.{seq}", account, "session.started", t, f"{account}-u{u}"))
                for _ in range(rnd.randrange(0, 3)):
                    t = min(t + rnd.randrange(1, 600) * US_PER_SECOND, base + DAY - 1)
                    seq += 1
                    out.append(Event(f"{account}.{seq}", account, "feature.used", t, f"{account}-u{u}",
                                     {"feature": rnd.choice(FEATURES)}))
        if rnd.random() < ticket_p:
            seq += 1
            out.append(Event(f"{account}.{seq}", account, "ticket.opened", base + 3_600 * US_PER_SECOND,
                             None, {"origin": "inbound"}))
        if rnd.random() < 0.01:
            seq += 1
            out.append(Event(f"{account}.{seq}", account, "payment.failed", base + 7_200 * US_PER_SECOND))
    return out


def population(seed: int, accounts: int = 40, days: int = 90, silent: dict[str, int] | None = None) -> list[Event]:
    """Events of a small population in time order; ``silent`` maps a (habitual) account to the day it falls silent."""
    rnd = random.Random(seed)
    silent = silent or {}
    events: list[Event] = []
    for i in range(accounts):
        aid = f"acct-{i:03d}"
        p = rnd.choice([0.2, 0.5, 0.8, 0.95])
        if aid in silent:
            p = 0.9  # a habitual account: its silence is what the tests are about
        events += account_days(rnd, aid, range(days), p, rnd.randint(1, 4), silent.get(aid))
    events.sort(key=lambda e: (e.ts, e.event_id))
    return events


def noisy_arrival(events: list[Event], seed: int, duplicates: float = 0.02) -> list[Event]:
    """Arrival order with some events delayed by less than the lateness and some delivered twice."""
    rnd = random.Random(seed)
    keyed = []
    for e in events:
        delay = rnd.randrange(0, LATENESS - US_PER_SECOND) if rnd.random() < 0.1 else 0
        keyed.append((e.ts + delay, rnd.random(), e))
        if rnd.random() < duplicates:
            redelivery = min(delay + rnd.randrange(0, LATENESS // 2), LATENESS - US_PER_SECOND)
            keyed.append((e.ts + redelivery, rnd.random(), e))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [e for _, _, e in keyed]


def small_detector(q: float = 0.98, min_scores: int = 300, min_days: int = 21, on_day=None,
                   scorer: str = "rate_drop") -> DropOffDetector:
    model = RateDropScorer(min_days=min_days) if scorer == "rate_drop" else DropZScorer(min_days=min_days)
    return DropOffDetector(model, QuantileThreshold(q=q, min_scores=min_scores),
                           EpisodePolicy(min_days=min_days), allowed_lateness_us=LATENESS, on_day=on_day)


def chunks(events: list, sizes: list[int]):
    """Split ``events`` into consecutive chunks of the given sizes (cycled)."""
    i = k = 0
    while i < len(events):
        n = sizes[k % len(sizes)]
        yield events[i:i + n]
        i += n
        k += 1
