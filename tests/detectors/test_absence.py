"""``onboarding_stalled`` (absence) boundary cases from DESIGN.md, through the default config."""

from __future__ import annotations

import pytest

from event_factory import DAY, MINUTE, T0, ev, run

US = 1
A = "acct-a"
TRIGGER = "onboarding_stalled"
DEADLINE = T0 + 7 * DAY


def onboard(at=T0, **kw):
    return ev(A, "account.onboarded", at, **kw)


def use(feature, at, **kw):
    return ev(A, "feature.used", at, feature, **kw)


CASES = [
    # (case, events in delivery order, until, expected fired_at list)
    ("no feature at all fires at t0 + 7d", [onboard()], DEADLINE, [DEADLINE]),
    ("core feature at 6d 23h 59m cancels", [onboard(), use("reports", T0 + 7 * DAY - MINUTE)], DEADLINE + DAY, []),
    ("core feature 1 us before the deadline cancels", [onboard(), use("dashboards", DEADLINE - US)], DEADLINE + DAY, []),
    ("core feature at exactly 7d is too late", [onboard(), use("reports", DEADLINE)], DEADLINE + DAY, [DEADLINE]),
    ("a non-core feature does not cancel", [onboard(), use("settings", T0 + DAY)], DEADLINE, [DEADLINE]),
    ("a feature.used without a feature does not cancel",
     [onboard(), ev(A, "feature.used", T0 + DAY)], DEADLINE, [DEADLINE]),
    ("core feature at the very instant of onboarding cancels", [use("integrations", T0), onboard()], DEADLINE, []),
    ("core feature before onboarding does not cancel", [use("reports", T0 - DAY), onboard()], DEADLINE, [DEADLINE]),
    ("only the first onboarding sets the deadline",
     [onboard(), onboard(T0 + 5 * DAY)], DEADLINE + 10 * DAY, [DEADLINE]),
    ("at most once per account", [onboard(), onboard(T0 + 20 * DAY), ev(A, "session.started", T0 + 40 * DAY)],
     T0 + 40 * DAY, [DEADLINE]),
    ("an earlier onboarding delivered second (within the lateness) wins",
     [onboard(T0 + 4 * MINUTE), onboard(T0)], DEADLINE + DAY, [DEADLINE]),
    ("an onboarding a day late is rejected", [onboard(T0 + DAY), onboard(T0)], DEADLINE + 2 * DAY, [DEADLINE + DAY]),
    ("not decided while events before the deadline may still come", [onboard()], DEADLINE - 2 * US, []),
    ("decided once everything up to 1 us before the deadline is in", [onboard()], DEADLINE - US, [DEADLINE]),
    ("a redelivered onboarding fires once", [onboard(event_id="x"), onboard(event_id="x")], DEADLINE, [DEADLINE]),
]


@pytest.mark.parametrize("case,events,until,expected", CASES, ids=[c[0] for c in CASES])
def test_boundaries(case, events, until, expected):
    fired, _results, _store = run(events, until=until)
    assert [f for a, t, f in fired if t == TRIGGER and a == A] == expected


def test_cancel_arriving_out_of_order_within_lateness():
    # The watermark is at 7d - 2m when the core feature of 7d - 1m arrives: still in time.
    other = ev("acct-other", "ticket.opened", DEADLINE + 3 * MINUTE)
    late_use = use("reports", DEADLINE - MINUTE)
    fired, results, _ = run([onboard(), other, late_use], chunk=1, until=DEADLINE + DAY)
    assert [f for f in fired if f[1] == TRIGGER] == []
    assert all(not r.late for r in results)


def test_cancel_arriving_later_than_the_lateness_is_rejected_and_the_firing_stands():
    other = ev("acct-other", "ticket.opened", DEADLINE + 10 * MINUTE)  # watermark: 7d + 5m
    too_late = use("reports", DEADLINE - MINUTE)
    fired, results, _ = run([onboard(), other, too_late], chunk=1, until=DEADLINE + DAY)
    assert [f[2] for f in fired if f[1] == TRIGGER] == [DEADLINE]
    assert [e for r in results for e in r.late] == [too_late]


def test_evidence_names_what_happened_and_when():
    fired, results, _ = run([onboard()], until=DEADLINE)
    (firing,) = [f for r in results for f in r.firings]
    assert firing.to_json()["evidence"] == {
        "after": "account.onboarded",
        "after_at": "2026-01-05T09:00:00Z",
        "expected": "feature.used where feature in [dashboards, integrations, reports]",
        "within": "7d",
        "deadline": "2026-01-12T09:00:00Z",
    }
    assert firing.fired_at == DEADLINE
