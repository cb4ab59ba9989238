"""An activity older than the last one folded (only a store overlap can replay one) must not break the fold."""

from __future__ import annotations

from detectors.habit_silence import HabitSilence
from schemas.predicate import EventSpec

DAY = 86_400_000_000


def test_an_activity_before_the_last_one_folded_marks_its_day_and_moves_nothing():
    rule = HabitSilence("quiet", [EventSpec("session.started")], min_days=2, of_days=3, silence_us=10 * DAY)
    st = rule.new_state()
    st.pending += [(5 * DAY, 1, 1)]
    rule.fold(st, 6 * DAY, [])
    st.pending += [(3 * DAY + 5, 2, 1)]  # two days before the last activity: inside the 3-day window
    out: list = []
    rule.fold(st, 7 * DAY, out)
    assert (st.last, st.mask, st.fired) == (5 * DAY, 0b101, False)
    rule.fold(st, 16 * DAY, out)
    assert [t // DAY for t, _ in out] == [15]  # habitual (2 of 3 days), silent 10 days after day 5
