"""Quiet hours across daylight-saving changes: the local wall clock decides, in both passes of a repeated hour."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from interventions.quiet_hours import QuietHours
from schemas.timefmt import format_rfc3339, parse_rfc3339

BERLIN = ZoneInfo("Europe/Berlin")


def _utc(text: str) -> int:
    return parse_rfc3339(text)


# Europe/Berlin, 2026: clocks go back on 25 October at 03:00 CEST (01:00 UTC) to 02:00 CET, so local 02:00-03:00
# happens twice (00:00-01:00 UTC, then 01:00-02:00 UTC); they go forward on 29 March at 02:00 CET (01:00 UTC) to
# 03:00 CEST, so local 02:00-03:00 does not exist.
@pytest.mark.parametrize("start, end, at, expected", [
    # quiet 21:00-02:30: the first pass of 02:10 waits for the first 02:30 ...
    ("21:00", "02:30", "2026-10-25T00:10:00Z", "2026-10-25T00:30:00Z"),
    # ... the second pass of 02:10 is night again on the wall clock: it waits for the second 02:30
    ("21:00", "02:30", "2026-10-25T01:10:00Z", "2026-10-25T01:30:00Z"),
    # 02:40 in either pass is after the end: not quiet
    ("21:00", "02:30", "2026-10-25T00:40:00Z", "2026-10-25T00:40:00Z"),
    ("21:00", "02:30", "2026-10-25T01:40:00Z", "2026-10-25T01:40:00Z"),
    # an ordinary night on the same date: 23:30 CEST waits for 08:00 CET
    ("21:00", "08:00", "2026-10-24T21:30:00Z", "2026-10-25T07:00:00Z"),
    # spring forward: an end at 02:30, a wall time that does not exist, ends at the jump to 03:00 CEST
    ("21:00", "02:30", "2026-03-29T00:50:00Z", "2026-03-29T01:00:00Z"),
    # quiet hours starting in the repeated hour: the second pass of 02:40 is quiet until 08:00
    ("02:30", "08:00", "2026-10-25T01:40:00Z", "2026-10-25T07:00:00Z"),
])
def test_the_end_of_quiet_hours_is_the_next_local_end_time_after_the_firing(start, end, at, expected):
    sh, sm = map(int, start.split(":"))
    eh, em = map(int, end.split(":"))
    quiet = QuietHours(sh * 60 + sm, eh * 60 + em, "Europe/Berlin")
    assert format_rfc3339(quiet.effective_time(_utc(at), None)) == format_rfc3339(_utc(expected))


def test_no_firing_is_let_through_inside_quiet_hours_around_a_clock_change():
    """Every minute of the two days around each change: the result is never inside quiet hours by the local
    wall clock, never earlier than the firing, and a firing outside them is not moved."""
    quiet = QuietHours(21 * 60 + 30, 2 * 60 + 30, "Europe/Berlin")
    for first in ("2026-10-24T00:00:00Z", "2026-03-28T00:00:00Z"):
        start = _utc(first)
        for minute in range(0, 2 * 24 * 60):
            at = start + minute * 60_000_000
            got = quiet.effective_time(at, None)
            local_at = datetime.fromtimestamp(at / 1e6, timezone.utc).astimezone(BERLIN)
            local_got = datetime.fromtimestamp(got / 1e6, timezone.utc).astimezone(BERLIN)
            assert got >= at
            assert not quiet._quiet(local_got.hour * 60 + local_got.minute), (local_at, local_got)
            if not quiet._quiet(local_at.hour * 60 + local_at.minute):
                assert got == at
            else:  # the first instant at which the wall clock is out of quiet hours: a minute earlier, still in
                before = datetime.fromtimestamp((got - 60_000_000) / 1e6, timezone.utc).astimezone(BERLIN)
                assert got - 60_000_000 < at or quiet._quiet(before.hour * 60 + before.minute), (local_at, local_got)
