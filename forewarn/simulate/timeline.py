"""The simulated timeline: UTC days from a start date, and fast timestamp text.

Generation writes hundreds of thousands of timestamps a second, and
``datetime.strftime`` costs more than the rest of an event. Every simulated
event falls on a whole second, so the text of a timestamp is the day's prefix
plus one of 86,400 precomputed clock strings.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from forewarn.simulate.errors import SimulationConfigError
from schemas.timefmt import US_PER_DAY, US_PER_SECOND, format_rfc3339, from_datetime, parse_rfc3339

__all__ = ["Calendar", "parse_start_date", "EARLIEST_US", "END_US", "YEARS"]

_SECONDS_PER_DAY = 86_400

#: The event times the contract accepts (``schemas.timefmt.from_datetime``): ``[EARLIEST_US, END_US)``.
YEARS = "1000-8999"
EARLIEST_US = parse_rfc3339("1000-01-01T00:00:00Z")
END_US = parse_rfc3339("8999-12-31T23:59:59.999999Z") + 1


def parse_start_date(text: str) -> int:
    """Epoch microseconds of UTC midnight on an ISO date such as ``2026-01-01``.

    >>> parse_start_date("0001-01-01")
    Traceback (most recent call last):
    ...
    forewarn.simulate.errors.SimulationConfigError: start date '0001-01-01' is outside the UTC years 1000-8999 that event times keep to; e.g. 2026-01-01
    """
    try:
        day = date.fromisoformat(text)
    except (TypeError, ValueError):
        raise SimulationConfigError(
            f"start date {text!r} is not an ISO date; write it as YYYY-MM-DD, e.g. 2026-01-01"
        ) from None
    try:
        return from_datetime(datetime(day.year, day.month, day.day, tzinfo=timezone.utc))
    except ValueError:
        raise SimulationConfigError(
            f"start date {text!r} is outside the UTC years {YEARS} that event times keep to; e.g. 2026-01-01"
        ) from None


class Calendar:
    """``days`` consecutive UTC days from ``start``; day ``d`` is ``[day_start(d), day_start(d + 1))``.

    >>> cal = Calendar(start="2026-01-01", days=3)
    >>> cal.day_start(1) == cal.start_us + US_PER_DAY
    True
    >>> cal.rfc3339(cal.day_start(2) + 3_723 * US_PER_SECOND)
    '2026-01-03T01:02:03Z'
    >>> cal.day_of(cal.end_us - 1)
    2
    """

    def __init__(self, start: str, days: int):
        self.start = start
        self.days = days
        self.start_us = parse_start_date(start)
        self.end_us = self.start_us + days * US_PER_DAY
        #: ``HH:MM:SSZ`` of every second of a day.
        self.clock = [
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(_SECONDS_PER_DAY)
        ]
        self._prefix: dict[int, str] = {}

    def day_start(self, day: int) -> int:
        return self.start_us + day * US_PER_DAY

    def day_of(self, ts: int) -> int:
        """The simulated day index of a timestamp (negative before the start)."""
        return (ts - self.start_us) // US_PER_DAY

    def rfc3339(self, ts: int) -> str:
        """RFC 3339 text of a timestamp; whole seconds take the fast path."""
        epoch_day, us = divmod(ts, US_PER_DAY)
        if us % US_PER_SECOND:
            return format_rfc3339(ts)
        prefix = self._prefix.get(epoch_day)
        if prefix is None:
            prefix = self._prefix[epoch_day] = format_rfc3339(epoch_day * US_PER_DAY)[:11]
        return prefix + self.clock[us // US_PER_SECOND]
