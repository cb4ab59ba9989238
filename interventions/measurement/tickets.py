"""Support tickets in the event stream: inbound volume per active account, and time to resolution by origin.

Tickets arrive as usage events: ``ticket.opened`` and ``ticket.resolved``,
paired by ``properties.ticket_id``, with ``properties.origin`` saying who
started the conversation — ``inbound`` (the customer wrote in) or
``proactive`` (our outreach opened it). A ticket without an origin is
counted as inbound, because that is how help desks log tickets that predate
Forewarn. The origin is read from the opening event.

Weeks are ISO weeks (Monday to Sunday, UTC). An account is active in a week
if it has an activity event in it (``session.started`` or ``feature.used``).
A redelivered ticket event (same ``event_id``) counts once.

>>> from schemas.event import Event
>>> H = 3_600_000_000
>>> ledger = TicketLedger()
>>> for e in [Event("e1", "a1", "session.started", 0),
...           Event("e2", "a1", "ticket.opened", H, None, {"ticket_id": "t1", "origin": "inbound"}),
...           Event("e2", "a1", "ticket.opened", H, None, {"ticket_id": "t1", "origin": "inbound"}),
...           Event("e3", "a1", "ticket.resolved", 5 * H, None, {"ticket_id": "t1"})]:
...     ledger.observe(e)
>>> [(w.inbound, w.active_accounts) for w in ledger.weeks(0, 24 * H)]
[(1, 1)]
>>> ledger.resolution_hours()["inbound"]
[4.0]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from schemas.event import Event
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, format_rfc3339, utc_day

__all__ = ["ACTIVITY_TYPES", "ORIGINS", "WeekTickets", "TicketLedger", "iso_week"]

#: Event types that make an account active (DESIGN.md's definition of activity).
ACTIVITY_TYPES = frozenset({"session.started", "feature.used"})
#: Who opened a ticket.
ORIGINS = ("inbound", "proactive")
_OPENED, _RESOLVED = "ticket.opened", "ticket.resolved"


def iso_week(ts: int) -> int:
    """The number of the Monday-to-Sunday week (UTC) holding ``ts``; 1970-01-01 was a Thursday."""
    return (utc_day(ts) + 3) // 7


@dataclass(frozen=True, slots=True)
class WeekTickets:
    """One week's ticket volume; ``partial`` when the history covers only part of the week."""

    week_start: int
    inbound: int
    proactive: int
    active_accounts: int
    partial: bool

    @property
    def inbound_per_active_account(self) -> float | None:
        return self.inbound / self.active_accounts if self.active_accounts else None

    def to_json(self) -> dict:
        return {"week_start": format_rfc3339(self.week_start)[:10], "inbound_tickets": self.inbound,
                "proactive_tickets": self.proactive, "active_accounts": self.active_accounts,
                "inbound_per_active_account": self.inbound_per_active_account, "partial": self.partial}


class TicketLedger:
    """Accumulates tickets and weekly activity from events in any order.

    ``track_accounts``: accounts whose inbound ticket times are kept one by one
    (the decided accounts, for the avoided-ticket estimate); None keeps none.
    """

    def __init__(self, track_accounts: Collection[str] | None = None,
                 activity_types: frozenset[str] = ACTIVITY_TYPES) -> None:
        self.activity_types = activity_types
        self._track = track_accounts if track_accounts is not None else ()
        self._seen: set[str] = set()
        self._opened: dict[str, tuple[int, str, str]] = {}
        self._resolved: dict[str, int] = {}
        self._active: dict[int, set[str]] = defaultdict(set)
        self.without_ticket_id = 0

    def observe(self, event: Event) -> None:
        kind = event.type
        if kind in self.activity_types:
            self._active[iso_week(event.ts)].add(event.account_id)
            return
        if kind != _OPENED and kind != _RESOLVED:
            return
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        ticket = event.properties.get("ticket_id")
        if not isinstance(ticket, str) or not ticket:
            self.without_ticket_id += 1
            return
        if kind == _OPENED:
            origin = event.properties.get("origin")
            origin = origin if origin in ORIGINS else "inbound"
            if ticket not in self._opened or event.ts < self._opened[ticket][0]:
                self._opened[ticket] = (event.ts, origin, event.account_id)
        elif ticket not in self._resolved or event.ts < self._resolved[ticket]:
            self._resolved[ticket] = event.ts

    @property
    def inbound_times(self) -> dict[str, list[int]]:
        """Opening times of the tracked accounts' inbound tickets: each ticket once, at its earliest opening,
        as the weekly counts see it (a ticket opened twice under two event ids is still one ticket)."""
        out: dict[str, list[int]] = defaultdict(list)
        for ts, origin, account in self._opened.values():
            if origin == "inbound" and account in self._track:
                out[account].append(ts)
        return out

    def weeks(self, since: int, until: int) -> list[WeekTickets]:
        """Weekly volume of the weeks overlapping ``[since, until)``, in order."""
        inbound: dict[int, int] = defaultdict(int)
        proactive: dict[int, int] = defaultdict(int)
        for ts, origin, _ in self._opened.values():
            if since <= ts < until:
                (inbound if origin == "inbound" else proactive)[iso_week(ts)] += 1
        if until <= since:
            return []
        out = []
        for week in range(iso_week(since), iso_week(until - 1) + 1):
            start = (week * 7 - 3) * US_PER_DAY
            partial = start < since or start + 7 * US_PER_DAY > until
            out.append(WeekTickets(start, inbound[week], proactive[week], len(self._active.get(week, ())), partial))
        return out

    def resolution_hours(self, since: int | None = None, until: int | None = None) -> dict[str, list[float]]:
        """Hours from opening to resolution of the tickets opened in the window, by origin."""
        out: dict[str, list[float]] = {origin: [] for origin in ORIGINS}
        for ticket, (opened, origin, _) in self._opened.items():
            resolved = self._resolved.get(ticket)
            if resolved is None or resolved < opened:
                continue
            if (since is not None and opened < since) or (until is not None and opened >= until):
                continue
            out[origin].append((resolved - opened) / US_PER_HOUR)
        return out

    def unresolved(self, since: int | None = None, until: int | None = None) -> dict[str, int]:
        """Tickets opened in the window and not (yet) resolved, by origin: the ones ``resolution_hours``
        leaves out, so its median and p90 are those of the resolved tickets only (read them together)."""
        out = {origin: 0 for origin in ORIGINS}
        for ticket, (opened, origin, _) in self._opened.items():
            if (since is not None and opened < since) or (until is not None and opened >= until):
                continue
            if ticket not in self._resolved:
                out[origin] += 1
        return out
