"""DESIGN.md's three seed triggers computed literally from the whole event list — the tests' oracle.

Deliberately written from the prose of "The seed triggers — exact semantics",
not from the engine: whole-history scans, no incremental state, no pending
lists, no watermark. ``seed_firings(events, until)`` gives what an engine
that has seen every event and been advanced to ``until`` must have emitted.

Tie rules at one instant (the prose leaves them open; the engine documents
them): an expected event at exactly t0 counts as after the onboarding; a
reset or re-arm at the very instant of a failure applies before it.
"""

from __future__ import annotations

from collections import defaultdict

from schemas.timefmt import US_PER_DAY

CORE = {"reports", "dashboards", "integrations"}
DAY = US_PER_DAY


def _dedupe(events):
    seen, out = set(), []
    for ev in events:
        if ev.event_id not in seen:
            seen.add(ev.event_id)
            out.append(ev)
    return out


def onboarding_stalled(events, until):
    """First account.onboarded at t0; a core feature.used in [t0, t0 + 7d) cancels; else fire at t0 + 7d."""
    fired = set()
    by_acct = defaultdict(list)
    for ev in events:
        by_acct[ev.account_id].append(ev)
    for acct, evs in by_acct.items():
        onboarded = [e.ts for e in evs if e.type == "account.onboarded"]
        if not onboarded:
            continue
        t0 = min(onboarded)
        deadline = t0 + 7 * DAY
        cancelled = any(
            e.type == "feature.used" and e.properties.get("feature") in CORE and t0 <= e.ts < deadline for e in evs
        )
        # decided once every event before the deadline is in: the engine, advanced to `until`, has all events <= until
        if not cancelled and deadline <= until + 1:
            fired.add((acct, "onboarding_stalled", deadline))
    return fired


def payment_failing(events, until):
    """Count failures since the last success/cancel with ts in (t - 30d, t]; fire at the 3rd; re-arm on success."""
    fired = set()
    by_acct = defaultdict(list)
    for ev in events:
        if ev.type in ("payment.failed", "payment.succeeded", "subscription.canceled"):
            by_acct[ev.account_id].append(ev)
    for acct, evs in by_acct.items():
        # resets before failures at one instant
        evs.sort(key=lambda e: (e.ts, e.type == "payment.failed"))
        armed = True
        for i, ev in enumerate(evs):
            if ev.type == "payment.succeeded":
                armed = True
            if ev.type != "payment.failed":
                continue
            last_reset = max((j for j in range(i) if evs[j].type != "payment.failed"), default=-1)
            count = sum(
                1 for j in range(last_reset + 1, i + 1)
                if evs[j].type == "payment.failed" and evs[j].ts > ev.ts - 30 * DAY
            )
            if count >= 3 and armed:
                if ev.ts <= until:
                    fired.add((acct, "payment_failing", ev.ts))
                armed = False
    return fired


def power_user_gone_quiet(events, until):
    """At each activity L: active on >= 10 of the 14 UTC days ending with L's day → fire at L + 10d if no
    activity comes before then."""
    fired = set()
    by_acct = defaultdict(list)
    for ev in events:
        if ev.type in ("session.started", "feature.used"):
            by_acct[ev.account_id].append(ev.ts)
    for acct, times in by_acct.items():
        times.sort()
        for i, last in enumerate(times):
            day = last // DAY
            days = {t // DAY for t in times[: i + 1] if day - 13 <= t // DAY <= day}
            if len(days) < 10:
                continue
            deadline = last + 10 * DAY
            nxt = times[i + 1] if i + 1 < len(times) else None
            if (nxt is None or nxt >= deadline) and deadline <= until + 1:
                fired.add((acct, "power_user_gone_quiet", deadline))
    return fired


def seed_firings(events, until):
    """(account, trigger, fired_at) of every seed firing decided once all events up to ``until`` are in."""
    events = _dedupe(events)
    return onboarding_stalled(events, until) | payment_failing(events, until) | power_user_gone_quiet(events, until)
