"""What the simulator knows about each account, as the drop-off evaluation needs it.

Every account falls in one of three classes, read from ``truth/accounts.jsonl``
fields rather than persona names:

- ``declining`` — its usage fades toward a cancellation (``decline_started``):
  what a ``usage_drop`` firing should find;
- ``other_drop`` — its usage really stops for another reason: a silence
  (``quiet_from``), a cancellation (``churned_at``) or an onboarding that never
  took (onboarded, no core feature ever): a firing there is a true drop but
  not a decline, reported apart;
- ``healthy`` — everything else: a firing there is a false alarm.

>>> t = AccountTruth.from_json({"account_id": "a", "persona": "slow_decline", "decline_started": "2026-02-01",
...     "churned_at": "2026-03-20T10:00:00Z", "quiet_from": None, "onboarded_at": None,
...     "first_core_feature_at": None})
>>> t.kind, format_rfc3339(t.decline_start_us)
('declining', '2026-02-01T00:00:00Z')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from forewarn.evaluate.errors import EvaluationError
from schemas.timefmt import format_rfc3339, parse_rfc3339

__all__ = ["AccountTruth", "read_truth", "truth_dir", "KINDS"]

KINDS = ("declining", "other_drop", "healthy")


#: The fields read as times: RFC 3339 text, a ``YYYY-MM-DD`` date (``decline_started``), or null.
_TIME_FIELDS = ("decline_started", "churned_at", "quiet_from", "onboarded_at", "first_core_feature_at")


def _time(value: str | None) -> int | None:
    if value is None:
        return None
    return parse_rfc3339(value + "T00:00:00Z" if len(value) == 10 else value)


@dataclass(frozen=True, slots=True)
class AccountTruth:
    """One account's truth: its class, when its decline started and when it canceled (epoch µs)."""

    account_id: str
    persona: str
    kind: str
    decline_start_us: int | None
    churned_at_us: int | None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "AccountTruth":
        """One ``accounts.jsonl`` object; ``ValueError`` names the field that is missing or of the wrong type."""
        if not isinstance(obj, dict):
            raise ValueError(f"a JSON object is expected, not {type(obj).__name__}")
        if not isinstance(obj.get("account_id"), str) or not obj["account_id"]:
            raise ValueError(f"account_id must be a non-empty string, got {obj.get('account_id')!r}")
        if not isinstance(obj.get("persona", ""), str):
            raise ValueError(f"persona must be a string, got {obj['persona']!r}")
        times = {}
        for name in _TIME_FIELDS:
            value = obj.get(name)
            if not isinstance(value, (str, type(None))):
                raise ValueError(f"{name} must be a date, a timestamp or null, got {value!r}")
            try:
                times[name] = _time(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        decline, churned = times["decline_started"], times["churned_at"]
        never_adopted = times["onboarded_at"] is not None and times["first_core_feature_at"] is None
        if decline is not None:
            kind = "declining"
        elif times["quiet_from"] is not None or churned is not None or never_adopted:
            kind = "other_drop"
        else:
            kind = "healthy"
        return cls(obj["account_id"], obj.get("persona", "?"), kind, decline, churned)


def truth_dir(path: Path) -> Path:
    """``sim/`` or ``sim/truth/`` → the directory holding ``accounts.jsonl``."""
    for candidate in (path / "truth", path):
        if (candidate / "accounts.jsonl").is_file():
            return candidate
    raise EvaluationError(f"{path}: no truth/accounts.jsonl here; point --truth at the directory "
                          "`forewarn simulate --out DIR` wrote")


def read_truth(path: Path) -> dict[str, AccountTruth]:
    """Every account of a simulation's truth, by account id."""
    accounts = {}
    source = truth_dir(path) / "accounts.jsonl"
    with source.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                t = AccountTruth.from_json(orjson.loads(line))
            except (orjson.JSONDecodeError, KeyError, ValueError) as exc:
                raise EvaluationError(f"{source}:{n}: not an account truth line ({exc})") from None
            accounts[t.account_id] = t
    if not accounts:
        raise EvaluationError(f"{source}: no accounts; was the simulation empty?")
    return accounts
