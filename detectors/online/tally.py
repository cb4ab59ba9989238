"""One account's usage on one UTC day that has not closed yet.

Events are counted into the tally of their own UTC day (event time), so an
event that arrives after midnight but happened before it still lands on the
right day. A day's tally is folded into the account's profile when the
partition's watermark passes the day's end, and then forgotten: the tally is
the only place raw-ish detail (event ids, user ids, feature names) lives, and
only for the day or two still open.

Duplicates (same ``event_id``) are recognised here for as long as a copy
could still be accepted. A copy carries the original's ``occurred_at``, so once
the partition's watermark has passed an event, a copy of it is late and never
reaches the tally (DESIGN.md, "Time"). The ids are kept in two generations: once
the current one holds :data:`ROTATE_AT` ids it becomes the previous one, bounded
by the partition's largest event time then, and the previous one is forgotten
when the watermark has passed that bound. A busy account's open day so keeps
about the ids of the allowed lateness (and at least ``ROTATE_AT``), not every
id of the day; an account with fewer ids a day never rotates, and its state is
what it was before generations existed. Rotation depends only on the tally and
the partition's times, never on how the events were split into chunks.

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

#: Ids a tally's current generation holds before it becomes the previous one (see the module docstring).
ROTATE_AT = 256


def event_hash(event_id: str) -> int:
    """A stable 64-bit hash of an event id, the same in every process (unlike ``hash``)."""
    raw = event_id.encode("utf-8", "surrogatepass")
    return (zlib.crc32(raw) << 32) | zlib.adler32(raw)


class DayTally:
    """Counts of one account's open UTC day; ``add`` returns False for a duplicate."""

    __slots__ = ("sessions", "features", "users", "payments_failed", "tickets", "active", "canceled", "seen",
                 "older", "older_until")

    def __init__(self) -> None:
        self.sessions = 0
        self.payments_failed = 0
        self.tickets = 0
        self.active = False
        self.canceled = False
        self.features: set[str] = set()
        self.users: set[str] = set()
        #: the current generation of event-id hashes
        self.seen: set[int] = set()
        #: the previous generation (empty until the first rotation), and the largest event time its ids can have
        self.older: set[int] = set()
        self.older_until = 0

    def add(self, event: EventLike, watermark: int | None = None, max_ts: int | None = None) -> bool:
        """Count ``event``; False for a duplicate. ``watermark`` and ``max_ts`` are the partition's, with
        ``event`` taken into account: without them, ids are never forgotten before the day closes."""
        raw = event.event_id.encode("utf-8", "surrogatepass")
        seen = self.seen
        n = len(seen)
        h = _crc32(raw) << 32 | _adler32(raw)  # event_hash, inlined: this runs for every event
        seen.add(h)
        if len(seen) == n:  # one set operation for both the check and the insert
            return False
        if self.older and h in self.older:
            seen.discard(h)
            return False
        if n + 1 >= ROTATE_AT and max_ts is not None and (not self.older or watermark > self.older_until):
            # every id so far has an event time <= max_ts; forgotten once the watermark passes it
            self.older, self.older_until, self.seen = seen, max_ts, set()
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
        data = [self.sessions, self.payments_failed, self.tickets, int(self.active) | int(self.canceled) << 1,
                sorted(self.features), sorted(self.users), sorted(self.seen)]
        if self.older:  # only a tally that rotated has the previous generation (older states have 7 items)
            data.append([self.older_until, sorted(self.older)])
        return data

    @classmethod
    def decode(cls, data: list[Any]) -> "DayTally":
        t = cls()
        t.sessions, t.payments_failed, t.tickets = int(data[0]), int(data[1]), int(data[2])
        t.active, t.canceled = bool(data[3] & 1), bool(data[3] & 2)
        t.features, t.users, t.seen = set(data[4]), set(data[5]), {int(h) for h in data[6]}
        if len(data) > 7:
            t.older_until, t.older = int(data[7][0]), {int(h) for h in data[7][1]}
        return t

    def __repr__(self) -> str:
        return f"DayTally({self.values()})"


#: The counts of a day on which the account sent nothing.
SILENT_DAY = DayTally().values()
