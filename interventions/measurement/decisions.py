"""The decision log as the measurement reads it: one record per firing the policy decided on.

The policy logs every decision, treated or not (``schemas.decision.Decision``
on ``intervention-decisions``); the holdout's control arm is what makes an
uplift measurable. The measurement needs only who, which trigger, which
intervention, which arm, when, and the command sent (to join receipts), so it
reads those fields and ignores the rest: the decision contract can grow
without breaking the report.

>>> d = decision_from_json({"firing_id": "f1", "account_id": "acct-1", "trigger": "payment_failing",
...                         "intervention": "payment_outreach", "arm": "control",
...                         "decided_at": "2026-01-05T00:00:00Z", "experiment": "exp-1"})
>>> d.arm, d.decided_at, d.measured
('control', 1767571200000000, True)
>>> decision_from_json({"firing_id": "f2", "account_id": "acct-1", "trigger": "t", "intervention": None,
...                     "arm": "suppressed", "reason": "no_intervention", "decided_at": 0}).arm
'suppressed'
>>> decision_from_json({"firing_id": "f1", "arm": "maybe"})
Traceback (most recent call last):
...
interventions.measurement.errors.HistoryError: decision f1: missing account_id, trigger, intervention, decided_at; arm 'maybe' is not one of treated, control, suppressed
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from interventions.measurement.errors import HistoryError
from schemas.timefmt import from_datetime, parse_rfc3339

__all__ = ["ARMS", "MEASURED_ARMS", "DecisionRecord", "decision_from_json", "read_decisions"]

#: Every arm a decision can take.
ARMS = ("treated", "control", "suppressed")
#: The arms an outcome is measured for: suppressed firings were neither contacted nor held out on purpose.
MEASURED_ARMS = ("treated", "control")

_FIELDS = ("firing_id", "account_id", "trigger", "intervention", "arm", "decided_at")


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One policy decision: the firing it answers, the intervention chosen, the arm, and event time ``decided_at`` (µs).

    ``intervention`` is empty only for a firing suppressed for having none;
    ``command_id`` is set for treated decisions whose log carries it.
    """

    firing_id: str
    account_id: str
    trigger: str
    intervention: str
    arm: str
    decided_at: int
    command_id: str | None = None

    @property
    def measured(self) -> bool:
        return self.arm in MEASURED_ARMS


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def decision_from_json(obj: Mapping[str, Any] | Any) -> DecisionRecord:
    """A decision from its JSON form (or any object with those attributes); ``decided_at`` is RFC 3339 or µs.

    Raises ``HistoryError`` naming the decision and every problem found.
    """
    if isinstance(obj, DecisionRecord):
        return obj
    name = _field(obj, "firing_id") or "<no firing_id>"
    values = {k: _field(obj, k) for k in _FIELDS}
    if values["intervention"] is None and values["arm"] == "suppressed":
        values["intervention"] = ""  # suppressed for having no intervention: nothing to measure anyway
    problems = []
    missing = [k for k, v in values.items() if v is None]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    for k in _FIELDS[:5]:
        if values[k] is not None and (not isinstance(values[k], str) or not (values[k] or k == "intervention")):
            problems.append(f"{k} must be a non-empty string, got {values[k]!r}")
    arm = values["arm"]
    if isinstance(arm, str) and arm and arm not in ARMS:
        problems.append(f"arm {arm!r} is not one of {', '.join(ARMS)}")
    decided = values["decided_at"]
    if isinstance(decided, str):
        try:
            decided = parse_rfc3339(decided)
        except ValueError as exc:
            problems.append(f"decided_at: {exc}")
    elif isinstance(decided, datetime):
        try:
            decided = from_datetime(decided)
        except ValueError as exc:
            problems.append(f"decided_at: {exc}")
    elif decided is not None and (isinstance(decided, bool) or not isinstance(decided, int)):
        problems.append("decided_at must be RFC 3339 text or epoch microseconds")
    if problems:
        raise HistoryError(f"decision {name}: {'; '.join(problems)}")
    command = _field(obj, "command_id")
    return DecisionRecord(values["firing_id"], values["account_id"], values["trigger"], values["intervention"],
                          arm, decided, command if isinstance(command, str) and command else None)


def read_decisions(path: Path) -> Iterator[DecisionRecord]:
    """Decisions from a JSON Lines file; a bad line raises ``HistoryError`` with its line number."""
    try:
        fh = Path(path).open("rb")
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read decisions ({exc.strerror}); give the decision log as JSON Lines") from None
    with fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield decision_from_json(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise HistoryError(f"{path}:{number}: not JSON ({exc})") from None
            except HistoryError as exc:
                raise HistoryError(f"{path}:{number}: {exc}") from None
