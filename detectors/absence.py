"""Absence after an event: after X, expect Y within D — fire at the deadline if Y never came.

Semantics (DESIGN.md, seed trigger ``onboarding_stalled``): on an account's
*first* ``after`` event at t0 the deadline is t0 + ``within``. An ``expect``
event at or after t0 and strictly before the deadline cancels it; otherwise
the trigger fires with ``fired_at`` = deadline. At most once per account:
after firing or cancelling the trigger is done for that account for good.
At one instant, ``after`` is applied before ``expect`` (an expected event at
exactly t0 counts).

>>> from schemas.predicate import EventSpec
>>> rule = Absence("stalled", [EventSpec("account.onboarded")], [EventSpec("feature.used")], within_us=7 * 86_400_000_000)
>>> st = rule.new_state()
>>> st.pending.append((0, 1, Absence.AFTER))
>>> out = []
>>> rule.fold(st, 7 * 86_400_000_000, out)
>>> [(fired_at // 86_400_000_000, ev["deadline"]) for fired_at, ev in out]
[(7, '1970-01-08T00:00:00Z')]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.base import Fired, Primitive, RuleState, take_due
from schemas.config_yaml import MapNode, format_duration
from schemas.predicate import EventSpec, read_event_specs
from schemas.timefmt import format_rfc3339

__all__ = ["Absence", "AbsenceState"]

_WAITING, _ARMED, _DONE = 0, 1, 2


class AbsenceState(RuleState):
    """``status`` waiting / armed (deadline t0 + within) / done; ``t0`` the first after-event."""

    __slots__ = ("status", "t0")

    def __init__(self, status: int = _WAITING, t0: int = 0) -> None:
        super().__init__()
        self.status = status
        self.t0 = t0


def _order(p: tuple[int, int, int]) -> tuple[int, int, int]:
    return (p[0], 0 if p[2] & Absence.AFTER else 1, p[1])


class Absence(Primitive):
    """After an ``after`` event, expect an ``expect`` event within ``within_us``; fire at the deadline otherwise."""

    kind = "absence"
    keys = ("after", "expect", "within")
    required = {"after": "account.onboarded", "expect": "{event: feature.used}", "within": "7d"}

    AFTER = 1
    EXPECT = 2

    def __init__(self, name: str, after: list[EventSpec], expect: list[EventSpec], within_us: int) -> None:
        self.name = name
        self.after = after
        self.expect = expect
        self.within_us = within_us

    @classmethod
    def from_config(cls, name: str, node: MapNode, sets: Mapping[str, frozenset[Any]]) -> "Absence":
        return cls(
            name,
            after=read_event_specs(node.require("after"), sets),
            expect=read_event_specs(node.require("expect"), sets),
            within_us=node.require("within").as_duration(),
        )

    def interests(self) -> list[tuple[EventSpec, int]]:
        return [(s, self.AFTER) for s in self.after] + [(s, self.EXPECT) for s in self.expect]

    def new_state(self) -> AbsenceState:
        return AbsenceState()

    def fold(self, state: AbsenceState, upto: int, out: list[Fired]) -> None:
        if state.status == _DONE:
            # nothing can matter any more: the due events are simply dropped (without collecting them)
            pending = state.pending
            if pending:
                state.pending = [p for p in pending if p[0] >= upto]
            return
        due = take_due(state, upto)
        after = self.AFTER
        if due is not None and (state.status == _ARMED or [p for p in due if p[2] & after]):
            # (waiting, only an after event can change anything: the usual due events, expected ones
            # of an account that has not started, are dropped without sorting them)
            if len(due) > 1:
                due.sort(key=_order)
            within = self.within_us
            for ts, _h, roles in due:
                status = state.status
                if status == _ARMED and state.t0 + within <= ts:
                    self._fire(state, out)
                    break
                if status == _WAITING and roles & after:
                    state.status = status = _ARMED
                    state.t0 = ts
                if status == _ARMED and roles & self.EXPECT:
                    state.status = _DONE
                    break
        if state.status == _ARMED and state.t0 + self.within_us <= upto:
            self._fire(state, out)

    def _fire(self, state: AbsenceState, out: list[Fired]) -> None:
        deadline = state.t0 + self.within_us
        out.append((deadline, {
            "after": " or ".join(s.describe() for s in self.after),
            "after_at": format_rfc3339(state.t0),
            "expected": " or ".join(s.describe() for s in self.expect),
            "within": format_duration(self.within_us),
            "deadline": format_rfc3339(deadline),
        }))
        state.status = _DONE

    def next_due(self, state: AbsenceState) -> int | None:
        if state.status == _ARMED:
            return state.t0 + self.within_us
        if state.status == _DONE:
            return None
        after = self.AFTER  # a local: the comprehension would look the attribute up for every event
        starts = [p[0] for p in state.pending if p[2] & after]
        return min(starts) + self.within_us if starts else None

    def is_blank(self, state: AbsenceState) -> bool:
        return state.status == _WAITING and not state.pending

    def encode(self, state: AbsenceState) -> list[Any]:
        return [state.status, state.t0, self._encode_pending(state.pending)]

    def decode(self, data: list[Any]) -> AbsenceState:
        status, t0, pending = data
        if status not in (_WAITING, _ARMED, _DONE):
            raise ValueError(f"absence state has unknown status {status!r}")
        state = AbsenceState(int(status), int(t0))
        state.pending = self._decode_pending(pending)
        return state

    def horizon_us(self) -> int:
        return self.within_us

    def describe(self) -> str:
        after = " or ".join(s.describe() for s in self.after)
        expect = " or ".join(s.describe() for s in self.expect)
        return f"after {after}, expect {expect} within {format_duration(self.within_us)}; at most once per account"
