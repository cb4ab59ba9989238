"""The receipt contract: what happened to one command, written by whoever delivered it.

The Forewarn dispatcher writes one receipt per command it consumes to
``intervention-receipts``; any other messaging system that consumes commands
reports back in the same form. Receipts are at least once: after a crash a
command may get a second receipt with the same ``command_id`` (a delivered
command then reads ``skipped_duplicate``), so readers key them by command id.

>>> r = Receipt(command_id="c" * 32, account_id="acct-1", channel="email", outcome="delivered",
...             attempts=1, at="2026-01-08T00:00:01Z")
>>> r.model_dump(mode="json")["outcome"], r.detail
('delivered', '')
>>> Receipt.model_validate_json(r.model_dump_json()) == r
True
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from schemas.event import Rfc3339

__all__ = ["RECEIPT_SCHEMA_VERSION", "OUTCOMES", "Receipt"]

RECEIPT_SCHEMA_VERSION = 1

#: ``delivered``: the channel accepted it. ``failed``: it did not after every attempt (the command is in
#: the commands DLQ). ``expired``: past its expires_at, not sent. ``skipped_duplicate``: already delivered.
OUTCOMES = ("delivered", "failed", "expired", "skipped_duplicate")

Outcome = Literal["delivered", "failed", "expired", "skipped_duplicate"]


class Receipt(BaseModel):
    """The outcome of one command (the ``intervention-receipts`` contract, version 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = Field(default=1, description="Contract version; bumped on any incompatible change.")
    command_id: StrictStr = Field(min_length=1, max_length=64)
    account_id: StrictStr = Field(min_length=1, max_length=128, description="The Kafka key.")
    channel: StrictStr = Field(min_length=1, max_length=64)
    outcome: Outcome
    attempts: int = Field(ge=0, description="Send attempts made by this delivery (0 when nothing was sent).")
    at: Rfc3339 = Field(description="Wall-clock time the outcome was known.")
    detail: str = Field(default="", max_length=1024,
                        description="Failure reason or channel response summary; never secrets or personal data.")
