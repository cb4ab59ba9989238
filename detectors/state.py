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

    ``wake`` is the account's wake-up time (None = none); ``stored_wake`` the
    wake-up time the store last recorded (so only changes are written);
    ``fold_at`` the smallest watermark at which folding would change anything
    (derived, never stored).
    """

    __slots__ = ("rules", "wake", "stored_wake", "fold_at")

    def __init__(self, n_rules: int) -> None:
        self.rules: list[RuleState | None] = [None] * n_rules
        self.wake: int | None = None
        self.stored_wake: int | None = None
        self.fold_at: int = NEVER

    def __repr__(self) -> str:
        return f"AccountState(wake={self.wake}, rules={self.rules})"


class StateCodec:
    """Encodes account states for the engine's triggers; also derives ``wake`` and ``fold_at``."""

    def __init__(self, rules: Sequence[Primitive]) -> None:
        self.rules = list(rules)
        self._slot = {rule.name: i for i, rule in enumerate(self.rules)}

    def new(self) -> AccountState:
        return AccountState(len(self.rules))

    def refresh(self, acct: AccountState) -> None:
        """Recompute ``wake`` and ``fold_at`` from the rule states; drop blank rule states."""
        wake = NEVER
        fold_at = NEVER
        rules = self.rules
        for i, st in enumerate(acct.rules):
            if st is None:
                continue
            rule = rules[i]
            if rule.is_blank(st):
                acct.rules[i] = None
                continue
            due = rule.next_due(st)
            if due is not None and due < wake:
                wake = due
            if st.pending:
                first = min(p[0] for p in st.pending) + 1
                if first < fold_at:
                    fold_at = first
        acct.wake = None if wake == NEVER else wake
        acct.fold_at = min(wake, fold_at)

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
        acct.wake = wake
        acct.stored_wake = wake
        if wake is not None and wake < acct.fold_at:
            acct.fold_at = wake
        return acct
