"""Habit then silence: an account active on K of N days goes quiet for D — fire at the deadline.

Semantics (DESIGN.md, seed trigger ``power_user_gone_quiet``): when the
account's latest activity L falls on a UTC day such that the account was
active on at least ``min_days`` distinct days among the ``of_days`` days ending
with L's day (inclusive), the deadline is L + ``silence``. Later activity moves
L and re-evaluates. If no activity comes strictly before the deadline, the
trigger fires with ``fired_at`` = deadline; after that it fires again only once
new activity makes the account a habitual user again.

The active days are a bitmask anchored at L's day (bit i = active on day(L) - i),
so state is a timestamp, an int and a flag, whatever the volume.

>>> from schemas.predicate import EventSpec
>>> DAY = 86_400_000_000
>>> rule = HabitSilence("quiet", [EventSpec("session.started")], min_days=2, of_days=3, silence_us=10 * DAY)
>>> st = rule.new_state()
>>> st.pending += [(0, 1, 1), (DAY + 5, 2, 1)]
>>> out = []
>>> rule.fold(st, 30 * DAY, out)
>>> [(t - DAY) // DAY for t, _ in out], out[0][1]["active_days"]
([10], 2)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from detectors.base import Fired, Primitive, RuleState, take_due
from schemas.config_yaml import MapNode, format_duration
from schemas.predicate import EventSpec, read_event_specs
from schemas.timefmt import US_PER_DAY, format_rfc3339

__all__ = ["HabitSilence", "HabitState"]

_K_OF_N = re.compile(r"\s*([0-9]+)\s+of\s+([0-9]+)\s*")  # [0-9]: \d would take any script's digits
_MAX_DAYS = 62


class HabitState(RuleState):
    """``last``: the latest activity L (None before any); ``mask``: active days ending with L's day;
    ``fired``: the deadline for this L has fired."""

    __slots__ = ("last", "mask", "fired")

    def __init__(self, last: int | None = None, mask: int = 0, fired: bool = False) -> None:
        super().__init__()
        self.last = last
        self.mask = mask
        self.fired = fired


class HabitSilence(Primitive):
    """Active on ``min_days`` of ``of_days`` days, then no activity for ``silence_us``."""

    kind = "habit_silence"
    keys = ("activity", "active_days", "silence")
    required = {"activity": "[session.started, feature.used]", "active_days": "10 of 14", "silence": "10d"}

    ACTIVITY = 1

    def __init__(self, name: str, activity: list[EventSpec], min_days: int, of_days: int, silence_us: int) -> None:
        self.name = name
        self.activity = activity
        self.min_days = min_days
        self.of_days = of_days
        self.silence_us = silence_us
        self._full = (1 << of_days) - 1

    @classmethod
    def from_config(cls, name: str, node: MapNode, sets: Mapping[str, frozenset[Any]]) -> "HabitSilence":
        days = node.require("active_days")
        match = _K_OF_N.fullmatch(days.value) if isinstance(days.value, str) else None
        if match is None:
            raise days.error(f"expected 'K of N' days, got {days.value!r}; write e.g. active_days: 10 of 14")
        k, n = int(match.group(1)), int(match.group(2))
        if not 1 <= n <= _MAX_DAYS:
            raise days.error(f"N must be between 1 and {_MAX_DAYS} days, got {n}")
        if not 1 <= k <= n:
            raise days.error(f"K must be between 1 and N ({n}), got {k}; write e.g. {min(10, n)} of {n}")
        return cls(name, read_event_specs(node.require("activity"), sets), k, n,
                   node.require("silence").as_duration())

    def interests(self) -> list[tuple[EventSpec, int]]:
        return [(s, self.ACTIVITY) for s in self.activity]

    def new_state(self) -> HabitState:
        return HabitState()

    def _habitual(self, state: HabitState) -> bool:
        return state.last is not None and not state.fired and state.mask.bit_count() >= self.min_days

    def fold(self, state: HabitState, upto: int, out: list[Fired]) -> None:
        due = take_due(state, upto)
        if due is not None:
            if len(due) > 1:
                due.sort()
            silence, min_days, of_days, full = self.silence_us, self.min_days, self.of_days, self._full
            # the loop works on locals (the hot path of the engine's folds) and writes them back once
            last, mask, fired = state.last, state.mask, state.fired
            last_day = 0 if last is None else last // US_PER_DAY
            for ts, _h, _roles in due:
                if last is None:
                    last, mask, last_day = ts, 1, ts // US_PER_DAY
                    continue
                if last + silence <= ts and not fired and mask.bit_count() >= min_days:
                    state.last, state.mask = last, mask
                    self._fire(state, out)
                day = ts // US_PER_DAY
                shift = day - last_day
                if shift < 0:
                    # before the last activity folded: never in order, but a store overlap could replay one;
                    # it marks its own day and moves nothing (a negative shift used to raise, for good)
                    if -shift < of_days:
                        mask |= 1 << -shift
                    continue
                if shift:
                    mask = ((mask << shift) | 1) & full if shift < of_days else 1
                    last_day = day
                last = ts
                fired = False
            state.last, state.mask, state.fired = last, mask, fired
        last = state.last
        if last is not None and last + self.silence_us <= upto and self._habitual(state):
            self._fire(state, out)

    def _fire(self, state: HabitState, out: list[Fired]) -> None:
        deadline = state.last + self.silence_us
        out.append((deadline, {
            "last_activity": format_rfc3339(state.last),
            "active_days": state.mask.bit_count(),
            "of_days": self.of_days,
            "silence": format_duration(self.silence_us),
            "deadline": format_rfc3339(deadline),
        }))
        state.fired = True

    def next_due(self, state: HabitState) -> int | None:
        last = state.last
        if last is not None and not state.fired and state.mask.bit_count() >= self.min_days:  # _habitual, inlined
            return last + self.silence_us
        pending = state.pending
        if pending:
            first = pending[0][0] if len(pending) == 1 else min(pending)[0]
            return first + self.silence_us
        return None

    def is_blank(self, state: HabitState) -> bool:
        return state.last is None and not state.pending

    def encode(self, state: HabitState) -> list[Any]:
        return [state.last, state.mask, 1 if state.fired else 0, self._encode_pending(state.pending)]

    def decode(self, data: list[Any]) -> HabitState:
        last, mask, fired, pending = data
        state = HabitState(None if last is None else int(last), int(mask), bool(fired))
        state.pending = self._decode_pending(pending)
        return state

    def horizon_us(self) -> int:
        return self.silence_us + self.of_days * US_PER_DAY

    def describe(self) -> str:
        acts = " or ".join(s.describe() for s in self.activity)
        return (f"active ({acts}) on {self.min_days} of {self.of_days} days, "
                f"then silent for {format_duration(self.silence_us)}")
