"""``payment_failing`` (count within a window until reset) boundary cases from DESIGN.md."""

from __future__ import annotations

import pytest

from event_factory import DAY, MINUTE, T0, ev, run

US = 1
A = "acct-a"
TRIGGER = "payment_failing"


def fail(at, **kw):
    return ev(A, "payment.failed", at, **kw)


def ok(at, **kw):
    return ev(A, "payment.succeeded", at, **kw)


def cancel(at):
    return ev(A, "subscription.canceled", at)


CASES = [
    ("3 failures within 30 days fire at the third",
     [fail(T0), fail(T0 + 10 * DAY), fail(T0 + 30 * DAY - US)], [T0 + 30 * DAY - US]),
    ("3 failures spanning exactly 30 days do not (window is open at now - 30d)",
     [fail(T0), fail(T0 + 15 * DAY), fail(T0 + 30 * DAY)], []),
    ("3 failures spread over 31 days do not", [fail(T0), fail(T0 + 15 * DAY), fail(T0 + 31 * DAY)], []),
    ("old failures slide out, later ones can still reach 3",
     [fail(T0), fail(T0 + 15 * DAY), fail(T0 + 31 * DAY), fail(T0 + 40 * DAY)], [T0 + 40 * DAY]),
    ("a success resets the count", [fail(T0), fail(T0 + DAY), ok(T0 + 2 * DAY), fail(T0 + 3 * DAY)], []),
    ("counting resumes after the success",
     [fail(T0), fail(T0 + DAY), ok(T0 + 2 * DAY), fail(T0 + 3 * DAY), fail(T0 + 4 * DAY), fail(T0 + 5 * DAY)],
     [T0 + 5 * DAY]),
    ("a cancellation resets the count", [fail(T0), fail(T0 + DAY), cancel(T0 + 2 * DAY), fail(T0 + 3 * DAY)], []),
    ("a fourth failure does not fire again", [fail(T0 + i * DAY) for i in range(4)], [T0 + 2 * DAY]),
    ("a cancellation resets but does not re-arm",
     [fail(T0 + i * DAY) for i in range(3)] + [cancel(T0 + 4 * DAY)] + [fail(T0 + (5 + i) * DAY) for i in range(3)],
     [T0 + 2 * DAY]),
    ("a success re-arms",
     [fail(T0 + i * DAY) for i in range(3)] + [ok(T0 + 4 * DAY)] + [fail(T0 + (5 + i) * DAY) for i in range(3)],
     [T0 + 2 * DAY, T0 + 7 * DAY]),
    ("a success at the very instant of the third failure comes first", [fail(T0), fail(T0 + DAY), ok(T0 + 2 * DAY),
                                                                       fail(T0 + 2 * DAY)], []),
    ("a redelivered failure counts once", [fail(T0, event_id="f1"), fail(T0, event_id="f1"), fail(T0 + DAY)], []),
    ("two distinct failures at one instant both count", [fail(T0), fail(T0), fail(T0 + DAY)], [T0 + DAY]),
]


@pytest.mark.parametrize("case,events,expected", CASES, ids=[c[0] for c in CASES])
def test_boundaries(case, events, expected):
    fired, _results, _store = run(events)
    assert [f for a, t, f in fired if t == TRIGGER and a == A] == expected


def test_a_success_that_really_came_first_cancels_a_firing_delivered_before_it():
    # DESIGN.md: the success occurred before the third failure but arrives after it, within the lateness.
    third = T0 + 2 * DAY
    events = [fail(T0), fail(T0 + DAY), fail(third), ok(third - MINUTE)]
    fired, results, _ = run(events, chunk=1, until=third + DAY)
    assert [f for f in fired if f[1] == TRIGGER] == []
    assert all(not r.late for r in results)


def test_the_firing_waits_for_the_watermark_to_pass_the_third_failure():
    third = T0 + 2 * DAY
    events = [fail(T0), fail(T0 + DAY), fail(third),
              ev("acct-b", "ticket.opened", third + 5 * MINUTE),       # watermark = third: not yet past
              ev("acct-b", "ticket.opened", third + 5 * MINUTE + US)]  # watermark = third + 1 us: decided
    _fired, results, _ = run(events, chunk=1, until=third + DAY)
    emitted_by_chunk = [[f.fired_at for f in r.firings] for r in results]
    assert emitted_by_chunk == [[], [], [], [], [third], []]


def test_evidence_lists_the_counted_failures():
    _fired, results, _ = run([fail(T0), fail(T0 + DAY), fail(T0 + 2 * DAY)])
    (firing,) = [f for r in results for f in r.firings]
    assert firing.evidence == {
        "event": "payment.failed",
        "occurrences": ["2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z", "2026-01-07T09:00:00Z"],
        "threshold": 3,
        "window": "30d",
    }
