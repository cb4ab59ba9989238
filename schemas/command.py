"""The intervention-command contract: what downstream messaging systems consume.

A command is a treated decision made concrete: which channel, what to say
(the rendered template) and why (the firing's evidence), with the window in
which sending it still makes sense. ``intervention-commands`` is read by the
Forewarn dispatcher and may be read directly by any messaging system; the
README shows an example. The command id is derived from the firing id, so a
firing decided twice (a redelivery) yields the same command id, and every
channel receives it as the idempotency key.

>>> cmd = InterventionCommand(
...     command_id=command_id("f" * 32), firing_id="f" * 32, account_id="acct-1",
...     trigger="onboarding_stalled", intervention="onboarding_checkin", channel="email",
...     payload={"content": {"subject": "Getting started"}, "evidence": {"t0": "2026-01-01T00:00:00Z"}},
...     decided_at="2026-01-08T00:00:00Z", expires_at="2026-01-10T00:00:00Z")
>>> cmd.payload.content["subject"]
'Getting started'
>>> InterventionCommand.model_validate_json(cmd.model_dump_json()) == cmd
True
>>> cmd.expires_at_us - cmd.decided_at_us == 2 * 86_400_000_000
True
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from schemas.event import Rfc3339
from schemas.timefmt import from_datetime

__all__ = ["COMMAND_SCHEMA_VERSION", "CommandPayload", "InterventionCommand", "command_id"]

COMMAND_SCHEMA_VERSION = 1


def command_id(firing_id: str) -> str:
    """The command id of a treated firing: deterministic, so a redelivered firing maps to the same command."""
    return hashlib.sha256(f"command\x1f{firing_id}".encode()).hexdigest()[:32]


class CommandPayload(BaseModel):
    """What to say and why: the intervention's rendered template, and the firing's evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    content: dict[str, Any] = Field(description="The intervention's template rendered for this account, "
                                                "e.g. {subject, body, resource} for email.")
    evidence: dict[str, Any] = Field(default_factory=dict, description="Why the trigger fired (from the firing).")


class InterventionCommand(BaseModel):
    """One intervention to deliver (the ``intervention-commands`` contract, version 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = Field(default=1, description="Contract version; bumped on any incompatible change.")
    command_id: StrictStr = Field(min_length=1, max_length=64,
                                  description="Derived from firing_id; the idempotency key on every channel.")
    firing_id: StrictStr = Field(min_length=1, max_length=64, description="The firing this command answers.")
    account_id: StrictStr = Field(min_length=1, max_length=128, description="The Kafka key.")
    trigger: StrictStr = Field(min_length=1, max_length=64)
    intervention: StrictStr = Field(min_length=1, max_length=64)
    channel: StrictStr = Field(min_length=1, max_length=64, description="A channel name from the config's channels.")
    payload: CommandPayload
    decided_at: Rfc3339 = Field(description="Event time of the decision.")
    expires_at: Rfc3339 = Field(description="After this instant the command is not sent (receipt: expired).")

    @model_validator(mode="after")
    def _expires_after_decision(self) -> "InterventionCommand":
        if self.expires_at <= self.decided_at:
            raise ValueError("expires_at must be after decided_at")
        return self

    @property
    def decided_at_us(self) -> int:
        return from_datetime(self.decided_at)

    @property
    def expires_at_us(self) -> int:
        return from_datetime(self.expires_at)
