"""Quiet hours: nobody is contacted at night in their own time zone.

A firing whose time falls inside the account's quiet hours is *delayed*, not
suppressed: the policy decides it as of the end of the quiet hours (its
``decided_at``), so the customer still gets the help, just in the morning. We
delay rather than suppress because most triggers fire once per episode (a
stalled onboarding fires once); suppressing would silently drop the help.

The account's time zone is "where known": an IANA name in the firing's
evidence under ``timezone`` (a detector copies it from the account's events),
else the configured default; with neither, no quiet hours apply. Times are
event time, so a replay delays exactly the same firings.

>>> from schemas.timefmt import parse_rfc3339, format_rfc3339
>>> q = QuietHours(start_minute=21 * 60, end_minute=8 * 60)
>>> format_rfc3339(q.effective_time(parse_rfc3339("2026-01-05T23:30:00Z"), "Europe/Berlin"))
'2026-01-06T07:00:00Z'
>>> format_rfc3339(q.effective_time(parse_rfc3339("2026-01-05T12:00:00Z"), "Europe/Berlin"))
'2026-01-05T12:00:00Z'
>>> q.effective_time(5, None) == 5
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.timefmt import from_datetime, to_datetime

__all__ = ["QuietHours", "zone"]


@lru_cache(maxsize=1024)
def zone(name: str | None) -> ZoneInfo | None:
    """The time zone called ``name``, or None when it is missing or not an IANA name."""
    if not name or not isinstance(name, str) or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _skipped(local: datetime) -> bool:
    """Whether the wall time ``local`` never shows on its zone's clocks (a spring-forward gap)."""
    back = local.astimezone(timezone.utc).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) != local.replace(tzinfo=None)


def _jump_after(lo_us: int, hi_us: int, tz: ZoneInfo) -> int:
    """The instant, to the second, at which ``tz``'s UTC offset changes between ``lo_us`` and ``hi_us``."""
    def offset(us: int):
        return to_datetime(us).astimezone(tz).utcoffset()

    before = offset(lo_us)
    while hi_us - lo_us > 1_000_000:
        mid = (lo_us + hi_us) // 2
        if offset(mid) == before:
            lo_us = mid
        else:
            hi_us = mid
    return hi_us - hi_us % 1_000_000 if offset(hi_us - hi_us % 1_000_000) != before else hi_us


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local minutes of the day ``[start_minute, end_minute)``; a range that passes midnight wraps.

    ``default_timezone`` applies to accounts whose time zone is unknown (None: no quiet hours for them).
    """

    start_minute: int
    end_minute: int
    default_timezone: str | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.start_minute < 1440 and 0 <= self.end_minute < 1440) or self.start_minute == self.end_minute:
            raise ValueError("quiet hours need two different times of day")

    def _quiet(self, minute: int) -> bool:
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute

    def effective_time(self, us: int, timezone_name: str | None) -> int:
        """``us`` itself, or the first instant after it at which the account's quiet hours end."""
        tz = zone(timezone_name) or zone(self.default_timezone)
        if tz is None:
            return us
        local = to_datetime(us).astimezone(tz)
        if not self._quiet(local.hour * 60 + local.minute):
            return us
        end_h, end_m = divmod(self.end_minute, 60)
        day = local.date()
        if local.hour * 60 + local.minute >= self.end_minute:
            day += timedelta(days=1)
        end = datetime(day.year, day.month, day.day, end_h, end_m, tzinfo=tz)
        end_us = from_datetime(end.astimezone(timezone.utc))
        if _skipped(end):
            # The clocks jump over the end time (spring forward): the quiet hours end at the jump, the
            # first instant whose wall time is past it.
            end_us = _jump_after(from_datetime(end.replace(fold=1).astimezone(timezone.utc)), end_us, tz)
            jumped_to = to_datetime(end_us).astimezone(tz)
            if self._quiet(jumped_to.hour * 60 + jumped_to.minute):  # a whole day skipped (Apia, 2011)
                return self.effective_time(end_us, timezone_name)
        elif end_us <= us:
            # The end falls in an hour the clocks repeat (autumn) and the firing is in its second pass,
            # night again on the wall clock: the quiet hours end at the end time's second occurrence.
            end_us = from_datetime(end.replace(fold=1).astimezone(timezone.utc))
        return max(us, end_us)
