"""A trigger firing: the detector's statement that an account needs help.

The id is derived from (account, trigger, episode) so that a replayed firing
is recognisably the same one. The episode of a firing is its ``fired_at``: one
trigger cannot fire twice for one account at the same instant.

>>> f = Firing("onboarding_stalled", "acct-1", 1767225600000000, {"t0": "..."})
>>> f.firing_id == firing_id("acct-1", "onboarding_stalled", 1767225600000000)
True
>>> f.to_json()["fired_at"]
'2026-01-01T00:00:00Z'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from schemas.timefmt import format_rfc3339, parse_rfc3339

__all__ = ["Firing", "firing_id", "firing_sort_key"]


def firing_id(account_id: str, trigger: str, fired_at_us: int) -> str:
    """Deterministic id of a firing: a hash of account, trigger and episode."""
    digest = hashlib.sha256(f"{account_id}\x1f{trigger}\x1f{fired_at_us}".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Firing:
    """One trigger firing for one account at an event time (epoch microseconds)."""

    trigger: str
    account_id: str
    fired_at: int
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def firing_id(self) -> str:
        return firing_id(self.account_id, self.trigger, self.fired_at)

    def to_json(self) -> dict[str, Any]:
        """The JSON-Lines form used by backtest output and the firings topic."""
        return {
            "firing_id": self.firing_id,
            "trigger": self.trigger,
            "account_id": self.account_id,
            "fired_at": format_rfc3339(self.fired_at),
            "evidence": self.evidence,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Firing":
        return cls(obj["trigger"], obj["account_id"], parse_rfc3339(obj["fired_at"]), obj.get("evidence", {}))


def firing_sort_key(f: Firing) -> tuple[int, str, str]:
    """DESIGN.md's output order: (fired_at, account_id, trigger)."""
    return (f.fired_at, f.account_id, f.trigger)
