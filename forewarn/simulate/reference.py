"""Reference semantics of the three seed triggers: the simulator's ground truth.

This is a literal, slow-is-fine transcription of DESIGN.md ("The seed triggers —
exact semantics"), written apart from ``detectors/`` so that the truth can catch
the engine's mistakes instead of repeating them. It reads one account's valid,
deduplicated events in event-time order and nothing else: no watermark, no
lateness, no state store.

An account's events enter as *facts* ``(ts, type, feature)``: event time in epoch
microseconds, the event type, and ``properties.feature`` (or ``None``).
Events at the same microsecond are taken in order of type name (then as
given), which puts ``account.onboarded`` before ``feature.used``; the simulator never emits a tie
whose order would change a firing (a test guards that), so the choice matters
only for hand-written inputs.

>>> from schemas.timefmt import parse_rfc3339 as t
>>> facts = [(t("2026-01-01T09:00:00Z"), "account.onboarded", None),
...          (t("2026-01-08T09:00:00Z"), "feature.used", "reports")]
>>> [f.to_json()["fired_at"] for f in account_firings("a1", facts, until_us=t("2026-01-09T00:00:00Z"))]
['2026-01-08T09:00:00Z']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter

from schemas.event import Event
from schemas.firing import Firing, firing_sort_key
from schemas.timefmt import US_PER_DAY, utc_day

__all__ = [
    "SEED_TRIGGERS",
    "DEFAULT_CORE_FEATURES",
    "Fact",
    "account_firings",
    "onboarding_stalled_times",
    "payment_failing_times",
    "power_user_gone_quiet_times",
    "reference_firings",
]

SEED_TRIGGERS = ("onboarding_stalled", "payment_failing", "power_user_gone_quiet")
DEFAULT_CORE_FEATURES = ("reports", "dashboards", "integrations")

ONBOARDING_GRACE_US = 7 * US_PER_DAY
PAYMENT_WINDOW_US = 30 * US_PER_DAY
PAYMENT_FAILURES_TO_FIRE = 3
HABIT_WINDOW_DAYS = 14
HABIT_MIN_ACTIVE_DAYS = 10
QUIET_GRACE_US = 10 * US_PER_DAY
ACTIVITY_TYPES = frozenset({"session.started", "feature.used"})

Fact = tuple[int, str, "str | None"]


def _in_time_order(facts: Iterable[Fact]) -> list[Fact]:
    return sorted(facts, key=itemgetter(0, 1))


def onboarding_stalled_times(facts: Sequence[Fact], until_us: int, core_features: Iterable[str]) -> list[int]:
    """``fired_at`` of ``onboarding_stalled`` (zero or one) for one account's time-ordered facts."""
    core = frozenset(core_features)
    deadline = None
    cancelled = False
    for ts, kind, feature in facts:
        if kind == "account.onboarded" and deadline is None:
            deadline = ts + ONBOARDING_GRACE_US  # only the first onboarding counts
        elif kind == "feature.used" and feature in core and deadline is not None and ts < deadline:
            cancelled = True
    if deadline is None or cancelled or deadline > until_us:
        return []
    return [deadline]


def payment_failing_times(facts: Sequence[Fact]) -> list[int]:
    """``fired_at`` of every ``payment_failing`` episode for one account's time-ordered facts."""
    fired = []
    failures: list[int] = []
    armed = True
    for ts, kind, _ in facts:
        if kind == "payment.succeeded":
            failures = []
            armed = True
        elif kind == "subscription.canceled":
            failures = []  # resets the count but, unlike a success, does not re-arm
        elif kind == "payment.failed":
            failures.append(ts)
            in_window = [f for f in failures if f > ts - PAYMENT_WINDOW_US]
            if armed and len(in_window) >= PAYMENT_FAILURES_TO_FIRE:
                fired.append(ts)
                armed = False
    return fired


def power_user_gone_quiet_times(facts: Sequence[Fact], until_us: int) -> list[int]:
    """``fired_at`` of every ``power_user_gone_quiet`` episode for one account's time-ordered facts."""
    fired = []
    active_days: set[int] = set()
    deadline = None
    counted_day = None
    for ts, kind, _ in facts:
        if kind not in ACTIVITY_TYPES:
            continue
        if deadline is not None and ts >= deadline:
            fired.append(deadline)  # nothing came *before* the deadline
            deadline = None
        latest_day = utc_day(ts)
        active_days.add(latest_day)
        if latest_day != counted_day:  # the count can only change when the latest day does
            counted_day = latest_day
            window = range(latest_day - HABIT_WINDOW_DAYS + 1, latest_day + 1)
            active_in_window = sum(1 for day in window if day in active_days)
        deadline = ts + QUIET_GRACE_US if active_in_window >= HABIT_MIN_ACTIVE_DAYS else None
    if deadline is not None and deadline <= until_us:
        fired.append(deadline)
    return fired


def account_firings(
    account_id: str,
    facts: Iterable[Fact],
    until_us: int,
    core_features: Iterable[str] = DEFAULT_CORE_FEATURES,
) -> list[Firing]:
    """Every seed-trigger firing of one account with ``fired_at <= until_us``, sorted."""
    ordered = _in_time_order(facts)
    times = {
        "onboarding_stalled": onboarding_stalled_times(ordered, until_us, core_features),
        "payment_failing": payment_failing_times(ordered),
        "power_user_gone_quiet": power_user_gone_quiet_times(ordered, until_us),
    }
    firings = [
        Firing(trigger, account_id, at)
        for trigger, ats in times.items()
        for at in ats
        if at <= until_us
    ]
    return sorted(firings, key=firing_sort_key)


def reference_firings(
    events: Iterable[Event],
    until_us: int | None = None,
    core_features: Iterable[str] = DEFAULT_CORE_FEATURES,
) -> list[Firing]:
    """The seed-trigger firings a backtest of ``events`` must produce, sorted.

    Duplicates (same ``event_id``) are dropped first; ``until_us`` defaults to the
    largest ``occurred_at`` among the events, as in ``forewarn backtest``.
    """
    seen: set[str] = set()
    by_account: dict[str, list[Fact]] = {}
    latest = None
    for ev in events:
        if ev.event_id in seen:
            continue
        seen.add(ev.event_id)
        feature = ev.properties.get("feature") if ev.type == "feature.used" else None
        if not isinstance(feature, str):
            feature = None
        by_account.setdefault(ev.account_id, []).append((ev.ts, ev.type, feature))
        latest = ev.ts if latest is None else max(latest, ev.ts)
    if until_us is None:
        if latest is None:
            return []
        until_us = latest
    core = tuple(core_features)
    firings = [f for acct, facts in by_account.items() for f in account_firings(acct, facts, until_us, core)]
    return sorted(firings, key=firing_sort_key)
