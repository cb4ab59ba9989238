"""``power_user_gone_quiet`` (habit then silence) boundary cases from DESIGN.md."""

from __future__ import annotations

import pytest

from event_factory import DAY, HOUR, T0, ev, run

US = 1
A = "acct-a"
TRIGGER = "power_user_gone_quiet"
MIDNIGHT = T0 - 9 * HOUR  # 2026-01-05T00:00:00Z


def active(days, hour=10):
    """One activity on each of ``days`` (day numbers from MIDNIGHT), alternating sessions and features."""
    out = []
    for i, d in enumerate(days):
        at = MIDNIGHT + d * DAY + hour * HOUR
        out.append(ev(A, "session.started", at) if i % 2 else ev(A, "feature.used", at, "settings"))
    return out


def last_of(days, hour=10):
    return MIDNIGHT + max(days) * DAY + hour * HOUR


TEN = list(range(10))
CASES = [
    ("active 10 days of 14: fires 10d after the last activity", active(TEN), [last_of(TEN) + 10 * DAY]),
    ("active 9 days of 14: never a power user", active(range(9)), []),
    ("10 active days spread over exactly 14", active([0, 1, 2, 4, 5, 7, 8, 10, 12, 13]),
     [last_of([13]) + 10 * DAY]),
    ("10 active days spread over 15: only 9 within any 14 ending on an active day",
     active([0, 1, 2, 4, 5, 7, 8, 10, 12, 14]), []),
    ("activity 1 us before the deadline moves L; no longer a power user",
     active(TEN) + [ev(A, "session.started", last_of(TEN) + 10 * DAY - US)], []),
    ("activity at exactly the deadline comes too late",
     active(TEN) + [ev(A, "session.started", last_of(TEN) + 10 * DAY)], [last_of(TEN) + 10 * DAY]),
    ("later activity moves the deadline",
     active(range(12)), [last_of(range(12)) + 10 * DAY]),
    ("fires again only after becoming a power user again",
     active(TEN) + active(range(30, 40)), [last_of(TEN) + 10 * DAY, last_of(range(30, 40)) + 10 * DAY]),
    ("a few days of activity after firing do not re-arm",
     active(TEN) + active(range(25, 29)), [last_of(TEN) + 10 * DAY]),
    ("unrelated events are not activity",
     active(range(9)) + [ev(A, "ticket.opened", MIDNIGHT + 9 * DAY)], []),
]


@pytest.mark.parametrize("case,events,expected", CASES, ids=[c[0] for c in CASES])
def test_boundaries(case, events, expected):
    until = max(e.ts for e in events) + 60 * DAY
    fired, _results, _store = run(events, until=until)
    assert [f for a, t, f in fired if t == TRIGGER and a == A] == expected


def test_days_are_utc_calendar_days():
    # 23:59:59 and 00:00:01 are two days; two activities on one day are one.
    days = []
    for d in range(5):
        days += [ev(A, "session.started", MIDNIGHT + d * 2 * DAY + DAY - 1_000_000),
                 ev(A, "session.started", MIDNIGHT + d * 2 * DAY + DAY + 1_000_000)]
    one_day_twice = [ev(A, "session.started", MIDNIGHT + 11 * DAY + h * HOUR) for h in (1, 2)]
    fired, _r, _s = run(days + one_day_twice, until=MIDNIGHT + 40 * DAY)
    # days 0..9 (10 distinct) then day 11: window days -2..11 holds 10 active days + day 11 = 11
    assert [f for a, t, f in fired if t == TRIGGER] == [MIDNIGHT + 11 * DAY + 2 * HOUR + 10 * DAY]


def test_evidence_counts_active_days():
    _fired, results, _ = run(active(range(11)), until=last_of(range(11)) + 10 * DAY)
    (firing,) = [f for r in results for f in r.firings]
    assert firing.evidence["active_days"] == 11
    assert firing.evidence["of_days"] == 14
    assert firing.evidence["last_activity"] == "2026-01-15T10:00:00Z"
    assert firing.evidence["deadline"] == "2026-01-25T10:00:00Z"
