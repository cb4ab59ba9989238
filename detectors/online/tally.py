"""One account's usage on one UTC day that has not closed yet.

Events are counted into the tally of their own UTC day (event time), so an
event that arrives after midnight but happened before it still lands on the
right day. A day's tally is folded into the account's profile when the
partition's watermark passes the day's end, and then forgotten: the tally is
the only place raw-ish detail (event ids, user ids, feature names) lives, and
only for the day or two still open.

Duplicates (same ``event_id``) are recognised here for as long as their day
is open; a copy that arrives after its day closed is below the watermark and
late anyway (DESIGN.md, "Time").

>>> from schemas.event import Event
>>> t = DayTally()
>>> t.add(Event("e1", "a", "session.started", 0, "u1"))
True
>>> t.add(Event("e2", "a", "feature.used", 5, "u2", {"feature": "reports"}))
True
>>> t.add(Event("e1", "a", "session.started", 0, "u1"))  # a redelivery
False
>>> t.values()
{'day_active': 1, 'day_sessions': 1, 'day_features': 1, 'day_users': 2, 'day_payments_failed': 0, 'day_tickets': 0}
"""

from __future__ import annotations

import zlib
from typing import Any, Protocol

__all__ = ["DayTally", "EventLike", "SESSION", "FEATURE", "PAYMENT_FAILED", "TICKET_OPENED", "CANCELED",
           "ACTIVITY_TYPES", "SILENT_DAY", "TICK_TYPE", "event_hash"]

SESSION = "session.started"
FEATURE = "feature.used"
PAYMENT_FAILED = "payment.failed"
TICKET_OPENED = "ticket.opened"
CANCELED = "subscription.canceled"
#: The type of a watermark tick (``streams.ticks``): it moves the partition's watermark, it is no account's usage.
TICK_TYPE = "forewarn.watermark"
#: Activity, as DESIGN.md defines it for the seed triggers.
ACTIVITY_TYPES = frozenset({SESSION, FEATURE})


class EventLike(Protocol):
    """What a tally reads of an event (``schemas.event.Event`` has it)."""

    event_id: str
    account_id: str
    type: str
    ts: int
    user_id: str | None
    properties: dict[str, Any]


_crc32, _adler32 = zlib.crc32, zlib.adler32


def event_hash(event_id: str) -> int:
    """A stable 64-bit hash of an event id, the same in every process (unlike ``hash``)."""
    raw = event_id.encode("utf-8", "surrogatepass")
    return (zlib.crc32(raw) << 32) | zlib.adler32(raw)


class DayTally:
    """Counts of one account's open UTC day; ``add`` returns False for a duplicate."""

    __slots__ = ("sessions", "features", "users", "payments_failed", "tickets", "active", "canceled", "seen")

    def __init__(self) -> None:
        self.sessions = 0
        self.payments_failed = 0
        self.tickets = 0
        self.active = False
        self.canceled = False
        self.features: set[str] = set()
        self.users: set[str] = set()
        self.seen: set[int] = set()

    def add(self, event: EventLike) -> bool:
        raw = event.event_id.encode("utf-8", "surrogatepass")
        seen = self.seen
        n = len(seen)
        seen.add(_crc32(raw) << 32 | _adler32(raw))  # event_hash, inlined: this runs for every event
        if len(seen) == n:  # one set operation for both the check and the insert
            return False
        kind = event.type
        if kind in ACTIVITY_TYPES:
            self.active = True
            if event.user_id is not None:
                self.users.add(event.user_id)
            if kind == SESSION:
                self.sessions += 1
            else:
                feature = event.properties.get("feature")
                if isinstance(feature, str):
                    self.features.add(feature)
        elif kind == PAYMENT_FAILED:
            self.payments_failed += 1
        elif kind == TICKET_OPENED and event.properties.get("origin") != "proactive":
            # A ticket our own outreach opened says nothing about the customer.
            self.tickets += 1
        elif kind == CANCELED:
            self.canceled = True
        return True

    def values(self) -> dict[str, int]:
        """The day's counts as the scorers see them (``day_*``)."""
        return {
            "day_active": 1 if self.active else 0,
            "day_sessions": self.sessions,
            "day_features": len(self.features),
            "day_users": len(self.users),
            "day_payments_failed": self.payments_failed,
            "day_tickets": self.tickets,
        }

    def encode(self) -> list[Any]:
        return [self.sessions, self.payments_failed, self.tickets, int(self.active) | int(self.canceled) << 1,
                sorted(self.features), sorted(self.users), sorted(self.seen)]

    @classmethod
    def decode(cls, data: list[Any]) -> "DayTally":
        t = cls()
        t.sessions, t.payments_failed, t.tickets = int(data[0]), int(data[1]), int(data[2])
        t.active, t.canceled = bool(data[3] & 1), bool(data[3] & 2)
        t.features, t.users, t.seen = set(data[4]), set(data[5]), {int(h) for h in data[6]}
        return t

    def __repr__(self) -> str:
        return f"DayTally({self.values()})"


#: The counts of a day on which the account sent nothing.
SILENT_DAY = DayTally().values()
