"""Event time as integers: microseconds since the Unix epoch, UTC.

The engine compares and adds times millions of times a second, so inside
Forewarn a timestamp is an ``int`` of microseconds. Only the boundaries speak
RFC 3339, and only these two functions translate.

>>> us = parse_rfc3339("2026-03-01T09:30:00+01:00")
>>> format_rfc3339(us)
'2026-03-01T08:30:00Z'
>>> format_rfc3339(parse_rfc3339("2026-03-01T08:30:00.250Z"))
'2026-03-01T08:30:00.250000Z'
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = [
    "US_PER_SECOND",
    "US_PER_MINUTE",
    "US_PER_HOUR",
    "US_PER_DAY",
    "NaiveTimestamp",
    "parse_rfc3339",
    "format_rfc3339",
    "to_datetime",
    "from_datetime",
    "utc_day",
]

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MIN_US = int((datetime(1000, 1, 1, tzinfo=timezone.utc) - _EPOCH).total_seconds()) * 1_000_000
_MAX_US = int((datetime(9000, 1, 1, tzinfo=timezone.utc) - _EPOCH).total_seconds()) * 1_000_000
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?"
)


class NaiveTimestamp(ValueError):
    """A timestamp without a UTC offset: its instant is unknowable."""


def from_datetime(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, in UTC years 1000-8999 (else ValueError).

    The bounds leave room for every duration a config may add or subtract (ten years at most):
    a deadline or an expiry computed from an event is always a valid date again.

    >>> from_datetime(datetime.fromisoformat("9999-12-31T23:30:00-01:00"))
    Traceback (most recent call last):
    ...
    ValueError: timestamp 9999-12-31T23:30:00-01:00 is outside the UTC years 1000-8999
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveTimestamp(f"timestamp {value.isoformat()!r} has no UTC offset")
    delta = value - _EPOCH
    us = (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds
    if not _MIN_US <= us < _MAX_US:
        raise ValueError(f"timestamp {value.isoformat()} is outside the UTC years 1000-8999")
    return us


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 timestamp that carries an offset (``Z`` or ``±hh:mm``).

    Raises ``NaiveTimestamp`` when the offset is missing and ``ValueError`` when
    the text is not a timestamp at all.
    """
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    if match.group("offset") is None:
        raise NaiveTimestamp(f"timestamp {text!r} has no UTC offset; add Z or +hh:mm")
    return from_datetime(datetime.fromisoformat(text.upper()))


def to_datetime(us: int) -> datetime:
    """The aware UTC datetime of an epoch-microsecond timestamp (before 1970 too, on every platform)."""
    return _EPOCH + timedelta(microseconds=us)


def format_rfc3339(us: int) -> str:
    """RFC 3339 in UTC with a ``Z``; fractional seconds only when present."""
    dt = to_datetime(us)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_day(us: int) -> int:
    """The UTC calendar day number (days since 1970-01-01) of a timestamp."""
    return us // US_PER_DAY
