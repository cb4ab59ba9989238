"""One account's engine state, and its compact byte form for a shared store.

An :class:`AccountState` holds one :class:`detectors.base.RuleState` per
trigger (None while blank) and the account's wake-up time: the earliest
watermark at which one of its triggers could fire with no further event. The
:class:`StateCodec` turns it into a small JSON array keyed by trigger name, so
renaming or removing a trigger only drops that trigger's state.

>>> from schemas.predicate import EventSpec
>>> from detectors.absence import Absence
>>> codec = StateCodec([Absence("stalled", [EventSpec("account.onboarded")], [EventSpec("feature.used")], 10)])
>>> acct = codec.new()
>>> acct.rules[0] = codec.rules[0].new_state()
>>> acct.rules[0].pending.append((5, 42, Absence.AFTER))
>>> codec.refresh(acct); acct.wake
15
>>> blob = codec.encode(acct); blob
b'[1,15,{"stalled":[0,0,[[5,42,1]]]}]'
>>> codec.encode(codec.decode(blob)) == blob
True
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from detectors.base import Primitive, RuleState

__all__ = ["AccountState", "StateCodec", "NEVER"]

#: A time later than any event: "no wake-up", "nothing to fold".
NEVER = 1 << 62

_VERSION = 1


class AccountState:
    """Per-account state: ``rules[i]`` is trigger i's state (None = blank).

    ``wake`` is the account's wake-up time (None = none): the earliest
    watermark at which a trigger could fire, or at which a trigger's pending
    list should be folded to stay short. ``stored_wake`` is the wake-up time
    the store last recorded, so only changes are written.
    """

    __slots__ = ("rules", "wake", "stored_wake")

    def __init__(self, n_rules: int) -> None:
        self.rules: list[RuleState | None] = [None] * n_rules
        self.wake: int | None = None
        self.stored_wake: int | None = None

    def __repr__(self) -> str:
        return f"AccountState(wake={self.wake}, rules={self.rules})"


class StateCodec:
    """Encodes account states for the engine's triggers, and derives their wake-up times.

    ``max_pending``: once a trigger holds this many pending events, the
    account also wakes when the oldest ``max_pending`` of them are final, so
    they are folded even if no deadline is near — pending lists (and the
    event ids they remember) stay short.
    """

    def __init__(self, rules: Sequence[Primitive], *, max_pending: int = 8) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        self.rules = list(rules)
        self.max_pending = max_pending
        self._slot = {rule.name: i for i, rule in enumerate(self.rules)}
        # each trigger's (is_blank, next_due), bound once: refresh runs after every fold
        self._checks = [(rule.is_blank, rule.next_due) for rule in self.rules]

    def new(self) -> AccountState:
        return AccountState(len(self.rules))

    def refresh(self, acct: AccountState) -> None:
        """Recompute ``wake`` from the rule states; drop blank rule states."""
        wake = NEVER
        checks = self._checks
        states = acct.rules
        k = self.max_pending
        for i, st in enumerate(states):
            if st is None:
                continue
            is_blank, next_due = checks[i]
            if is_blank(st):
                states[i] = None
                continue
            due = next_due(st)
            if due is not None and due < wake:
                wake = due
            pending = st.pending
            if len(pending) >= k:
                settle = sorted(pending)[k - 1][0] + 1
                if settle < wake:
                    wake = settle
        acct.wake = None if wake == NEVER else wake

    def is_blank(self, acct: AccountState) -> bool:
        return all(st is None for st in acct.rules)

    def encode(self, acct: AccountState) -> bytes:
        rules = self.rules
        body = {rules[i].name: rules[i].encode(st) for i, st in enumerate(acct.rules) if st is not None}
        return orjson.dumps([_VERSION, acct.wake, body])

    def decode(self, blob: bytes | bytearray | memoryview | str) -> AccountState:
        """The state in ``blob``; a trigger no longer configured is dropped, a new one starts blank."""
        try:
            version, wake, body = orjson.loads(blob)
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            raise ValueError(f"not an account state blob: {exc}") from None
        if version != _VERSION:
            raise ValueError(f"account state blob has version {version!r}; this engine reads {_VERSION}")
        acct = AccountState(len(self.rules))
        for name, data in body.items():
            slot = self._slot.get(name)
            if slot is not None:
                acct.rules[slot] = self.rules[slot].decode(data)
        self.refresh(acct)
        acct.stored_wake = wake
        return acct
