"""Intervention commands fed back into the simulation: the closed loop's input.

The simulator reads only what any command carries — ``command_id``,
``account_id``, ``trigger``, ``intervention`` and ``decided_at`` (RFC 3339, or
epoch microseconds) — and ignores every other field, so the full command
contract (``schemas.command.InterventionCommand``, also accepted as is) can
grow without breaking it. Commands come from a live driver (``Simulation.feed``)
or a JSON Lines file (``read_commands``).

>>> cmd = parse_command({"command_id": "c1", "account_id": "acct-1", "trigger": "payment_failing",
...                      "intervention": "payment_outreach", "decided_at": "2026-01-05T00:00:00Z",
...                      "channel": "email"})
>>> cmd.trigger, cmd.decided_at
('payment_failing', 1767571200000000)
>>> parse_command({"command_id": "c1"})
Traceback (most recent call last):
...
forewarn.simulate.errors.CommandError: command c1: missing account_id, trigger, intervention, decided_at
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from forewarn.simulate.errors import CommandError
from forewarn.simulate.timeline import EARLIEST_US, END_US, YEARS
from schemas.command import InterventionCommand
from schemas.timefmt import parse_rfc3339

__all__ = ["Outreach", "parse_command", "read_commands"]

_REQUIRED = ("command_id", "account_id", "trigger", "intervention", "decided_at")


@dataclass(frozen=True, slots=True)
class Outreach:
    """The part of an intervention command the simulated customer reacts to.

    >>> Outreach("c1", "acct-1", "payment_failing", "payment_outreach", 0).trigger
    'payment_failing'
    """

    command_id: str
    account_id: str
    trigger: str
    intervention: str
    decided_at: int


def parse_command(obj: Mapping[str, Any] | Outreach | InterventionCommand) -> Outreach:
    """Check and convert one command; raises ``CommandError`` naming the command and the problem."""
    if isinstance(obj, Outreach):
        return obj
    if isinstance(obj, InterventionCommand):
        return Outreach(obj.command_id, obj.account_id, obj.trigger, obj.intervention, obj.decided_at_us)
    if not isinstance(obj, Mapping):
        raise CommandError(f"a command is a JSON object, not {type(obj).__name__}")
    name = obj.get("command_id", "<no command_id>")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise CommandError(f"command {name}: missing {', '.join(missing)}")
    for k in _REQUIRED[:4]:
        if not isinstance(obj[k], str) or not obj[k]:
            raise CommandError(f"command {name}: {k} must be a non-empty string, got {obj[k]!r}")
    decided = obj["decided_at"]
    if isinstance(decided, bool) or not isinstance(decided, (str, int)):
        raise CommandError(f"command {name}: decided_at must be RFC 3339 text or epoch microseconds")
    if isinstance(decided, str):
        try:
            decided = parse_rfc3339(decided)
        except ValueError as exc:
            raise CommandError(f"command {name}: decided_at {obj['decided_at']!r}: {exc}") from None
    elif not EARLIEST_US <= decided < END_US:
        raise CommandError(f"command {name}: decided_at {decided} (epoch microseconds) is outside the UTC "
                           f"years {YEARS} that event times keep to")
    return Outreach(obj["command_id"], obj["account_id"], obj["trigger"], obj["intervention"], decided)


def read_commands(path: Path) -> Iterator[Outreach]:
    """Commands from a JSON Lines file; a bad line raises ``CommandError`` with its line number."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise CommandError(f"{path}: cannot read commands ({exc.strerror}); give a JSON Lines file") from None
    with fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield parse_command(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise CommandError(f"{path}:{number}: not JSON ({exc})") from None
            except CommandError as exc:
                raise CommandError(f"{path}:{number}: {exc}") from None
