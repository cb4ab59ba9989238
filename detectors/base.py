"""The contract every rule primitive implements, and the shape of its per-account state.

A *primitive* (absence, count, habit-then-silence, ...) is the rule behind a
trigger. The engine owns time; a primitive owns meaning:

- ``interests()`` names the events it cares about, each with a role bit
  (``after``, ``expect``, ``counted``, ``reset``...). The engine matches every
  event once and appends ``(ts, id_hash, roles)`` to the trigger's per-account
  ``pending`` list, in arrival order.
- ``fold(state, upto, out)`` applies every pending event with ``ts < upto`` in
  event-time order (the primitive breaks ties at equal ``ts`` by role, then by
  ``id_hash``, never by arrival), removes them from ``pending``, and appends
  ``(fired_at, evidence)`` to ``out`` for every firing decided by then. A
  firing at ``fired_at`` is *decided* once no event that could still arrive can
  change it: an absence deadline when ``fired_at <= upto`` (only events strictly
  before a deadline count), a count firing when ``fired_at < upto`` (it
  depends on the events at its own instant too).
- ``next_due(state)`` is a lower bound on the smallest ``upto`` at which a
  fold could fire: the engine stores it as the account's wake-up time, so an
  account that receives no more events is still folded, and fires, on time.
  A new pending event at ``t`` may lower it, but never below
  ``min(next_due, t + 1)``, and never raises it: the engine only appends
  events at or above the watermark, so the times it folds at then do not
  depend on whether an event arrived before or after a fold.

Folding must be compositional — folding to ``a`` then to ``b`` equals folding
to ``b`` — and must remove exactly the pending events before ``upto`` (the
others stay untouched, whatever the state). That is what makes the result
independent of chunking, of when the engine happens to fold, and of the
arrival order of events within the allowed lateness. At most one firing per
instant: the firing id is derived from (account, trigger, fired_at). ``tests/detectors/test_primitive_contract.py`` checks every
registered primitive against this contract.

A primitive's configuration is its constructor arguments, stored as given;
``from_config`` reads them from the trigger's YAML mapping.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from schemas.config_yaml import MapNode
from schemas.predicate import EventSpec

__all__ = ["Pending", "RuleState", "Primitive", "Fired", "take_due"]

#: One pending event of one trigger: (event time µs, 64-bit hash of event_id, role bits).
Pending = tuple[int, int, int]

#: What ``fold`` appends for a firing: (fired_at µs, evidence with RFC 3339 times).
Fired = tuple[int, dict[str, Any]]


class RuleState:
    """Per-account, per-trigger state: the events not yet folded, plus what the primitive keeps."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[Pending] = []


def take_due(state: RuleState, upto: int) -> list[Pending] | None:
    """Remove and return the pending events before ``upto`` (in arrival order), or None if there are none."""
    pending = state.pending
    if not pending:
        return None
    if len(pending) == 1:
        if pending[0][0] < upto:
            state.pending = []
            return pending
        return None
    rest = [p for p in pending if p[0] >= upto]
    if not rest:  # all due, the common case at a wake-up
        state.pending = []
        return pending
    n, r = len(pending), len(rest)
    if r == n:
        return None
    state.pending = rest
    if pending[n - r:] == rest:  # the usual split: arrival order is time order, the due events lead
        return pending[:n - r]
    return [p for p in pending if p[0] < upto]


class Primitive(ABC):
    """A rule a trigger is written in; see the module docstring for the contract."""

    #: The ``kind:`` that selects this primitive in the config.
    kind: ClassVar[str]
    #: The config keys this primitive reads (besides kind, intervention, description).
    keys: ClassVar[tuple[str, ...]]
    #: The config keys that must be present, with an example value for the error message.
    required: ClassVar[Mapping[str, str]]

    name: str

    @classmethod
    @abstractmethod
    def from_config(cls, name: str, node: MapNode, sets: Mapping[str, frozenset[Any]]) -> "Primitive":
        """Build from the trigger's mapping (unknown keys were already refused)."""

    @abstractmethod
    def interests(self) -> list[tuple[EventSpec, int]]:
        """(event spec, role bit) pairs; an event matching several gets the union of the bits."""

    @abstractmethod
    def new_state(self) -> RuleState:
        """The state of an account this trigger has seen nothing of."""

    @abstractmethod
    def fold(self, state: RuleState, upto: int, out: list[Fired]) -> None:
        """Apply pending events before ``upto`` in event-time order; append decided firings to ``out``."""

    @abstractmethod
    def next_due(self, state: RuleState) -> int | None:
        """A lower bound on the smallest ``upto`` at which ``fold`` could fire; None if nothing can."""

    @abstractmethod
    def is_blank(self, state: RuleState) -> bool:
        """True when the state is equivalent to ``new_state()`` (so it need not be stored)."""

    @abstractmethod
    def encode(self, state: RuleState) -> list[Any]:
        """A compact JSON-ready form (lists of ints); ``decode`` inverts it exactly."""

    @abstractmethod
    def decode(self, data: list[Any]) -> RuleState:
        """The state ``encode`` produced."""

    @abstractmethod
    def describe(self) -> str:
        """One line for people: what the rule watches and when it fires."""

    def horizon_us(self) -> int:
        """How long after an account's last relevant event its state can still decide a firing: the
        stored state must outlive it (``engine.state_ttl`` is checked against it at start-up)."""
        return 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}: {self.describe()})"

    @staticmethod
    def _decode_pending(items: list[Any]) -> list[Pending]:
        # The blobs are the codec's own orjson output, so the numbers already are ints; unpacking keeps
        # the shape check. (Converting each with int() was a fifth of decoding an account's state.)
        return [(ts, h, r) for ts, h, r in items]

    @staticmethod
    def _encode_pending(pending: list[Pending]) -> list[Pending]:
        return pending  # orjson writes tuples as arrays: the same bytes as lists, without the copies
