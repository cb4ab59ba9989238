"""The truth's reference semantics against small, hand-checked event lists at each boundary."""

from __future__ import annotations

import pytest

from forewarn.simulate.reference import reference_firings
from schemas.event import Event
from schemas.firing import firing_id
from schemas.timefmt import US_PER_DAY, US_PER_MINUTE, US_PER_SECOND, format_rfc3339, parse_rfc3339

T0 = parse_rfc3339("2026-01-05T09:00:00Z")
DAY = US_PER_DAY


class Story:
    """A tiny event list for one account, written in offsets from T0."""

    def __init__(self, account: str = "acct-1"):
        self.account = account
        self.events: list[Event] = []

    def add(self, at: int, kind: str, feature: str | None = None, event_id: str | None = None) -> "Story":
        props = {"feature": feature} if feature else {}
        eid = event_id or f"{self.account}-{len(self.events)}"
        self.events.append(Event(eid, self.account, kind, T0 + at, None, props))
        return self

    def firings(self, until: int | None = None) -> list[tuple[str, str]]:
        found = reference_firings(self.events, until_us=None if until is None else T0 + until)
        return [(f.trigger, format_rfc3339(f.fired_at)) for f in found]


def at(offset: int) -> str:
    return format_rfc3339(T0 + offset)


# --------------------------------------------------------------------------- onboarding_stalled

def test_core_feature_at_6d_23h_59m_cancels_onboarding_stalled():
    story = Story().add(0, "account.onboarded").add(7 * DAY - US_PER_MINUTE, "feature.used", "reports")
    assert story.firings(until=30 * DAY) == []


def test_core_feature_at_exactly_7d_is_too_late():
    story = Story().add(0, "account.onboarded").add(7 * DAY, "feature.used", "dashboards")
    assert story.firings(until=30 * DAY) == [("onboarding_stalled", at(7 * DAY))]


def test_non_core_feature_does_not_cancel_and_a_later_onboarding_does_not_move_the_deadline():
    story = (Story().add(0, "account.onboarded").add(DAY, "feature.used", "search")
             .add(2 * DAY, "account.onboarded"))
    assert story.firings(until=30 * DAY) == [("onboarding_stalled", at(7 * DAY))]


def test_core_feature_before_onboarding_does_not_count():
    story = Story().add(-DAY, "feature.used", "reports").add(0, "account.onboarded")
    assert story.firings(until=30 * DAY) == [("onboarding_stalled", at(7 * DAY))]


def test_deadline_fires_only_when_the_input_reaches_it():
    story = Story().add(0, "account.onboarded")
    assert story.firings(until=7 * DAY - US_PER_SECOND) == []
    assert story.firings(until=7 * DAY) == [("onboarding_stalled", at(7 * DAY))]


def test_until_defaults_to_the_largest_occurred_at():
    story = Story().add(0, "account.onboarded").add(7 * DAY, "session.started")
    assert story.firings() == [("onboarding_stalled", at(7 * DAY))]
    assert Story().add(0, "account.onboarded").add(7 * DAY - 1, "session.started").firings() == []


# --------------------------------------------------------------------------- payment_failing

def test_three_failures_within_30_days_fire_at_the_third():
    story = (Story().add(0, "payment.failed").add(15 * DAY, "payment.failed")
             .add(30 * DAY - US_PER_SECOND, "payment.failed"))
    assert story.firings() == [("payment_failing", at(30 * DAY - US_PER_SECOND))]


def test_three_failures_exactly_30_days_apart_do_not_fire():
    story = Story().add(0, "payment.failed").add(15 * DAY, "payment.failed").add(30 * DAY, "payment.failed")
    assert story.firings() == []


def test_three_failures_spread_over_31_days_do_not_fire_until_a_fourth_closes_up():
    story = Story().add(0, "payment.failed").add(16 * DAY, "payment.failed").add(31 * DAY, "payment.failed")
    assert story.firings() == []
    story.add(40 * DAY, "payment.failed")  # 16 d, 31 d and 40 d lie within 30 days of 40 d
    assert story.firings() == [("payment_failing", at(40 * DAY))]


def test_a_success_resets_the_count_and_re_arms():
    story = (Story().add(0, "payment.failed").add(DAY, "payment.failed").add(2 * DAY, "payment.succeeded")
             .add(3 * DAY, "payment.failed"))
    assert story.firings() == []
    story.add(4 * DAY, "payment.failed").add(5 * DAY, "payment.failed")  # fires at 5 d
    story.add(6 * DAY, "payment.failed")  # no re-arm yet: silent
    story.add(7 * DAY, "payment.succeeded").add(8 * DAY, "payment.failed").add(9 * DAY, "payment.failed")
    story.add(10 * DAY, "payment.failed")
    assert story.firings() == [("payment_failing", at(5 * DAY)), ("payment_failing", at(10 * DAY))]


def test_a_cancellation_resets_the_count_but_does_not_re_arm():
    story = Story().add(0, "payment.failed").add(DAY, "payment.failed").add(2 * DAY, "subscription.canceled")
    story.add(3 * DAY, "payment.failed").add(4 * DAY, "payment.failed")
    assert story.firings() == []  # two failures since the cancellation
    story.add(5 * DAY, "payment.failed")
    assert story.firings() == [("payment_failing", at(5 * DAY))]  # never fired before: still armed
    story.add(6 * DAY, "subscription.canceled").add(7 * DAY, "payment.failed").add(8 * DAY, "payment.failed")
    story.add(9 * DAY, "payment.failed")
    assert story.firings() == [("payment_failing", at(5 * DAY))]  # fired once, and no success re-armed it


def test_a_redelivered_failure_counts_once():
    story = (Story().add(0, "payment.failed", event_id="f1").add(DAY, "payment.failed", event_id="f1")
             .add(2 * DAY, "payment.failed", event_id="f2"))
    assert story.firings() == []


# --------------------------------------------------------------------------- power_user_gone_quiet

def habit(active_days: list[int]) -> Story:
    """Sessions at 10:00 on the given day offsets (T0 is 09:00, so one hour in)."""
    story = Story()
    for d in active_days:
        story.add(d * DAY + 60 * US_PER_MINUTE, "session.started")
    return story


TEN_OF_14 = [0, 1, 2, 3, 5, 6, 8, 9, 11, 13]
NINE_OF_14 = [0, 1, 2, 3, 5, 6, 8, 9, 13]
LAST = 13 * DAY + 60 * US_PER_MINUTE


def test_ten_active_days_of_14_then_silence_fires_10_days_after_the_last_activity():
    assert len(set(TEN_OF_14)) == 10 and max(TEN_OF_14) - min(TEN_OF_14) == 13
    assert habit(TEN_OF_14).firings(until=40 * DAY) == [("power_user_gone_quiet", at(LAST + 10 * DAY))]


def test_nine_active_days_of_14_is_not_a_power_user():
    assert habit(NINE_OF_14).firings(until=40 * DAY) == []


def test_ten_active_days_spread_over_15_days_is_not_a_power_user():
    assert habit([0, 1, 2, 3, 5, 6, 8, 9, 11, 14]).firings(until=40 * DAY) == []


def test_activity_a_second_before_the_deadline_prevents_the_firing():
    story = habit(TEN_OF_14).add(LAST + 10 * DAY - US_PER_SECOND, "feature.used", "search")
    # The return is not a power-user day (2 of the 14 days ending with it), so no new deadline either.
    assert story.firings(until=60 * DAY) == []


def test_activity_exactly_at_the_deadline_comes_too_late():
    story = habit(TEN_OF_14).add(LAST + 10 * DAY, "session.started")
    assert story.firings(until=60 * DAY) == [("power_user_gone_quiet", at(LAST + 10 * DAY))]


def test_later_activity_moves_the_deadline():
    story = habit(TEN_OF_14 + [14, 15])
    assert story.firings(until=60 * DAY) == [("power_user_gone_quiet", at(15 * DAY + 60 * US_PER_MINUTE + 10 * DAY))]


def test_payments_and_tickets_are_not_activity():
    story = habit(TEN_OF_14).add(LAST + 2 * DAY, "payment.succeeded").add(LAST + 3 * DAY, "ticket.opened")
    assert story.firings(until=60 * DAY) == [("power_user_gone_quiet", at(LAST + 10 * DAY))]


def test_fires_again_only_after_becoming_a_power_user_again():
    second = [d + 30 for d in TEN_OF_14]
    story = habit(TEN_OF_14 + second)
    assert story.firings(until=80 * DAY) == [
        ("power_user_gone_quiet", at(LAST + 10 * DAY)),
        ("power_user_gone_quiet", at(LAST + 30 * DAY + 10 * DAY)),
    ]


# --------------------------------------------------------------------------- output shape

def test_firings_are_sorted_and_carry_the_contract_firing_id():
    b = Story("acct-b").add(0, "account.onboarded")
    a = Story("acct-a").add(0, "account.onboarded")
    c = Story("acct-c").add(0, "payment.failed").add(DAY, "payment.failed").add(7 * DAY, "payment.failed")
    found = reference_firings(b.events + a.events + c.events, until_us=T0 + 30 * DAY)
    assert [(f.account_id, f.trigger) for f in found] == [
        ("acct-a", "onboarding_stalled"), ("acct-b", "onboarding_stalled"), ("acct-c", "payment_failing")]
    assert found[0].firing_id == firing_id("acct-a", "onboarding_stalled", T0 + 7 * DAY)


@pytest.mark.parametrize("core", [("audit_log",), ("reports", "audit_log")])
def test_core_features_are_configurable(core):
    story = Story().add(0, "account.onboarded").add(DAY, "feature.used", "audit_log")
    assert reference_firings(story.events, until_us=T0 + 30 * DAY, core_features=core) == []
    assert reference_firings(story.events, until_us=T0 + 30 * DAY, core_features=("search",)) != []
