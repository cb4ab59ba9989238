"""Where the outcome tracker keeps what it is waiting for: the contract and an in-memory store.

The tracker's logic is plain Python; what it remembers between events — the
decisions whose success window is open, the decisions already seen, and
(for decisions that arrive after the events they are judged by) a short
memory of recent success events — lives behind :class:`OutcomeState`, so a
live Redis-backed state can reuse the same tracker. Every record is keyed by
account, like every other per-account state in Forewarn.

>>> from interventions.measurement.decisions import DecisionRecord
>>> state = InMemoryOutcomeState()
>>> d = DecisionRecord("f1", "acct-1", "payment_failing", "payment_outreach", "treated", 100)
>>> state.claim("f1", expires_at=500), state.claim("f1", expires_at=500)
(True, False)
>>> state.add(PendingOutcome(d, deadline=400))
>>> [p.decision.firing_id for p in state.pending("acct-1")]
['f1']
>>> [p.decision.firing_id for p in state.due(400)], state.pending("acct-1")
(['f1'], [])
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from interventions.measurement.decisions import DecisionRecord

__all__ = ["PendingOutcome", "OutcomeState", "InMemoryOutcomeState"]


@dataclass(frozen=True, slots=True)
class PendingOutcome:
    """A measured decision whose success window ``[decided_at, deadline)`` has not yet closed."""

    decision: DecisionRecord
    deadline: int


class OutcomeState(Protocol):
    """What the tracker stores. Times are event time in epoch microseconds."""

    def claim(self, firing_id: str, expires_at: int) -> bool:
        """True the first time a decision is seen; a redelivered decision returns False until ``expires_at``."""

    def add(self, pending: PendingOutcome) -> None:
        """Start waiting for a decision's success metric."""

    def pending(self, account_id: str) -> list[PendingOutcome]:
        """The open windows of one account."""

    def resolve(self, pending: PendingOutcome) -> None:
        """Stop waiting: the success metric happened."""

    def due(self, watermark: int) -> list[PendingOutcome]:
        """Remove and return every window whose deadline is at or before ``watermark``."""

    def drain(self) -> list[PendingOutcome]:
        """Remove and return every open window (end of a finite history)."""

    def remember(self, account_id: str, ts: int, triggers: frozenset[str]) -> None:
        """Keep a success event (the triggers whose metric it meets) for a decision that may arrive later."""

    def remembered(self, account_id: str) -> list[tuple[int, frozenset[str]]]:
        """The remembered success events of one account, as ``(ts, triggers)``."""

    def expire(self, before: int) -> None:
        """Forget remembered events older than ``before`` and claims that expired before it."""


class InMemoryOutcomeState:
    """:class:`OutcomeState` in process memory: for files, tests and the embedded runtime.

    The deadline heap holds an entry per window; a resolved window's entry is
    skipped when it surfaces, which keeps ``resolve`` cheap.
    """

    def __init__(self) -> None:
        self._open: dict[str, dict[str, PendingOutcome]] = defaultdict(dict)
        self._deadlines: list[tuple[int, str, str]] = []
        self._claims: dict[str, int] = {}
        self._claim_expiry: list[tuple[int, str]] = []
        self._recent: dict[str, list[tuple[int, frozenset[str]]]] = defaultdict(list)
        self._recent_order: list[tuple[int, str]] = []

    def claim(self, firing_id: str, expires_at: int) -> bool:
        if firing_id in self._claims:
            return False
        self._claims[firing_id] = expires_at
        heapq.heappush(self._claim_expiry, (expires_at, firing_id))
        return True

    def add(self, pending: PendingOutcome) -> None:
        d = pending.decision
        self._open[d.account_id][d.firing_id] = pending
        heapq.heappush(self._deadlines, (pending.deadline, d.account_id, d.firing_id))

    def pending(self, account_id: str) -> list[PendingOutcome]:
        windows = self._open.get(account_id)
        return list(windows.values()) if windows else []

    def resolve(self, pending: PendingOutcome) -> None:
        d = pending.decision
        windows = self._open.get(d.account_id)
        if windows is not None:
            windows.pop(d.firing_id, None)
            if not windows:
                del self._open[d.account_id]

    def due(self, watermark: int) -> list[PendingOutcome]:
        out = []
        while self._deadlines and self._deadlines[0][0] <= watermark:
            _, account, fid = heapq.heappop(self._deadlines)
            windows = self._open.get(account)
            pending = windows.get(fid) if windows else None
            if pending is not None:
                out.append(pending)
                self.resolve(pending)
        return out

    def drain(self) -> list[PendingOutcome]:
        out = [p for windows in self._open.values() for p in windows.values()]
        self._open.clear()
        self._deadlines.clear()
        return out

    def remember(self, account_id: str, ts: int, triggers: frozenset[str]) -> None:
        self._recent[account_id].append((ts, triggers))
        heapq.heappush(self._recent_order, (ts, account_id))

    def remembered(self, account_id: str) -> list[tuple[int, frozenset[str]]]:
        return list(self._recent.get(account_id, ()))

    def expire(self, before: int) -> None:
        # Only accounts with something old enough to forget are visited.
        while self._recent_order and self._recent_order[0][0] < before:
            _, account = heapq.heappop(self._recent_order)
            if account in self._recent:
                kept = [r for r in self._recent[account] if r[0] >= before]
                if kept:
                    self._recent[account] = kept
                else:
                    del self._recent[account]
        while self._claim_expiry and self._claim_expiry[0][0] < before:
            _, fid = heapq.heappop(self._claim_expiry)
            self._claims.pop(fid, None)
