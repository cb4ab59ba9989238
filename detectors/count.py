"""Count within a window until reset: fire when N counted events fall within a trailing window.

Semantics (DESIGN.md, seed trigger ``payment_failing``): the count at a
counted event at time t is the number of counted events since the last
``reset_on`` event whose time is in ``(t - window, t]``. When it reaches
``threshold`` the trigger fires with ``fired_at`` = t, then stays silent until
a ``rearm_on`` event. At one instant, every reset and re-arm applies before
every counted event (a failure at the very instant of a success still counts),
so a trigger fires at most once per instant: its firing id stays unique.

Only the last ``threshold - 1`` counted times are kept: nothing older can
matter for the next count, so state stays small whatever the volume.

>>> from schemas.predicate import EventSpec
>>> DAY = 86_400_000_000
>>> rule = Count("failing", [EventSpec("payment.failed")], threshold=3, window_us=30 * DAY,
...              reset_on=[EventSpec("payment.succeeded")], rearm_on=[EventSpec("payment.succeeded")])
>>> st = rule.new_state()
>>> st.pending += [(0, 1, Count.COUNTED), (10 * DAY, 2, Count.COUNTED), (29 * DAY, 3, Count.COUNTED)]
>>> out = []
>>> rule.fold(st, 40 * DAY, out)
>>> [(t // DAY, ev["occurrences"][0]) for t, ev in out]
[(29, '1970-01-01T00:00:00Z')]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.base import Fired, Primitive, RuleState, take_due
from schemas.config_yaml import MapNode, format_duration
from schemas.predicate import EventSpec, read_event_specs
from schemas.timefmt import format_rfc3339

__all__ = ["Count", "CountState"]


class CountState(RuleState):
    """``armed``: may fire; ``times``: the latest counted times since the last reset (at most threshold - 1)."""

    __slots__ = ("armed", "times")

    def __init__(self, armed: bool = True, times: list[int] | None = None) -> None:
        super().__init__()
        self.armed = armed
        self.times = times if times is not None else []


class Count(Primitive):
    """``threshold`` counted events within ``window_us`` since the last reset fire once until re-armed."""

    kind = "count"
    keys = ("event", "threshold", "window", "reset_on", "rearm_on")
    required = {"event": "payment.failed", "threshold": "3", "window": "30d",
                "rearm_on": "[payment.succeeded]  (or [] to fire at most once per account)"}

    COUNTED = 1
    RESET = 2
    REARM = 4

    def __init__(self, name: str, event: list[EventSpec], threshold: int, window_us: int,
                 reset_on: list[EventSpec], rearm_on: list[EventSpec]) -> None:
        self.name = name
        self.event = event
        self.threshold = threshold
        self.window_us = window_us
        self.reset_on = reset_on
        self.rearm_on = rearm_on

    @classmethod
    def from_config(cls, name: str, node: MapNode, sets: Mapping[str, frozenset[Any]]) -> "Count":
        def specs(key: str) -> list[EventSpec]:
            child = node.get(key)
            if child is None or child.value == []:
                return []
            return read_event_specs(child, sets)

        node.require("rearm_on", cls.required["rearm_on"])
        rule = cls(
            name,
            event=read_event_specs(node.require("event"), sets),
            threshold=node.require("threshold").as_int(minimum=1, maximum=1000),
            window_us=node.require("window").as_duration(),
            reset_on=specs("reset_on"),
            rearm_on=specs("rearm_on"),
        )
        for spec in rule.event:
            if spec in rule.reset_on:
                raise node.require("reset_on").error(
                    f"{spec.describe()} is both counted and a reset, so the count could never grow; remove it from one"
                )
        return rule

    def interests(self) -> list[tuple[EventSpec, int]]:
        return ([(s, self.COUNTED) for s in self.event] + [(s, self.RESET) for s in self.reset_on]
                + [(s, self.REARM) for s in self.rearm_on])

    def new_state(self) -> CountState:
        return CountState()

    def fold(self, state: CountState, upto: int, out: list[Fired]) -> None:
        due = take_due(state, upto)
        if due is None:
            return
        if len(due) > 1:
            due = _phased(due)
        times = state.times
        keep = self.threshold - 1
        for ts, _h, roles in due:
            if roles & self.RESET:
                times = []
            if roles & self.REARM:
                state.armed = True
            if roles & self.COUNTED:
                lo = ts - self.window_us
                times = [t for t in times if t > lo]
                times.append(ts)
                if state.armed and len(times) >= self.threshold:
                    out.append((ts, {
                        "event": " or ".join(s.describe() for s in self.event),
                        "occurrences": [format_rfc3339(t) for t in times[-self.threshold:]],
                        "threshold": self.threshold,
                        "window": format_duration(self.window_us),
                    }))
                    state.armed = False
                if len(times) > keep:
                    times = times[len(times) - keep:] if keep else []
        state.times = times

    def next_due(self, state: CountState) -> int | None:
        pending = state.pending
        if not pending:
            return None
        if state.armed:
            counted = [p[0] for p in pending if p[2] & self.COUNTED]
        else:
            # Disarmed, only a counted event at or after a re-arm can fire (at one instant the re-arm
            # applies first). Bounding by the counted events *before* the re-arm too would let a re-arm
            # that arrives later pull the wake-up time back below the watermark, so when the engine
            # folds would depend on where a chunk ended (see detectors.base, next_due).
            rearms = [p[0] for p in pending if p[2] & self.REARM]
            if not rearms:
                return None
            first = min(rearms)
            counted = [p[0] for p in pending if p[2] & self.COUNTED and p[0] >= first]
        return min(counted) + 1 if counted else None

    def is_blank(self, state: CountState) -> bool:
        return state.armed and not state.times and not state.pending

    def encode(self, state: CountState) -> list[Any]:
        return [1 if state.armed else 0, list(state.times), self._encode_pending(state.pending)]

    def decode(self, data: list[Any]) -> CountState:
        armed, times, pending = data
        state = CountState(bool(armed), [int(t) for t in times])
        state.pending = self._decode_pending(pending)
        return state

    def horizon_us(self) -> int:
        return self.window_us

    def describe(self) -> str:
        counted = " or ".join(s.describe() for s in self.event)
        text = f"{self.threshold} x {counted} within {format_duration(self.window_us)}"
        if self.reset_on:
            text += f", counting since the last {' or '.join(s.describe() for s in self.reset_on)}"
        if self.rearm_on:
            text += f"; fires again after {' or '.join(s.describe() for s in self.rearm_on)}"
        else:
            text += "; at most once per account"
        return text


def _phased(due: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Event-time order in which, at each instant, every reset and re-arm comes before every counted
    event — so an instant can re-arm at most once and the trigger fires at most once per instant."""
    counted_only = Count.COUNTED
    both = Count.RESET | Count.REARM
    phased = []
    for ts, h, roles in due:
        if roles & both and roles & counted_only:
            phased.append((ts, 0, h, roles & both))
            phased.append((ts, 1, h, counted_only))
        else:
            phased.append((ts, 0 if roles & both else 1, h, roles))
    phased.sort()
    return [(ts, h, roles) for ts, _phase, h, roles in phased]
