"""The decision contract: what the policy decided about one firing, treated or not.

Every firing the policy sees gets exactly one decision, published on
``intervention-decisions`` whatever the arm, because the measurement compares
the ``treated`` arm with the ``control`` arm (decided on, never contacted) and
needs to see what was ``suppressed`` and why. The decision id is derived from
the firing id, so a replayed firing gives the same decision id.

>>> d = Decision(decision_id=decision_id("f" * 32), firing_id="f" * 32, account_id="acct-1",
...              trigger="payment_failing", intervention="payment_outreach", arm="suppressed",
...              reason="cooldown", fired_at="2026-01-05T10:00:00Z", decided_at="2026-01-05T10:00:00Z",
...              experiment="exp-2026-01")
>>> d.model_dump(mode="json")["decided_at"]
'2026-01-05T10:00:00Z'
>>> Decision.model_validate_json(d.model_dump_json()) == d
True
>>> try:
...     Decision(**{**d.model_dump(), "arm": "treated"})
... except ValueError as exc:
...     print("a treated decision names its command_id" in str(exc))
True
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from schemas.event import Rfc3339

__all__ = ["DECISION_SCHEMA_VERSION", "ARMS", "SUPPRESSION_REASONS", "Decision", "decision_id"]

DECISION_SCHEMA_VERSION = 1

#: ``treated``: a command goes out. ``control``: the holdout, decided on but never contacted.
#: ``suppressed``: not contacted, for the ``reason`` given.
ARMS = ("treated", "control", "suppressed")

#: Why a firing was not acted on (see ``interventions/policy.py`` for the exact rules).
SUPPRESSION_REASONS = (
    "cooldown",         # the same trigger reached this account within its intervention's cooldown
    "frequency_cap",    # the account already had the maximum contacts within the cap window
    "lower_priority",   # a higher-priority firing of the account won the same decision window
    "window_taken",     # arrived after its decision window was decided, and that window already had its contact
    "no_intervention",  # the trigger has no intervention in the config the policy runs with
)

Arm = Literal["treated", "control", "suppressed"]
Reason = Literal["cooldown", "frequency_cap", "lower_priority", "window_taken", "no_intervention"]


def decision_id(firing_id: str) -> str:
    """The decision id of a firing: one firing, one decision, whatever the arm."""
    return hashlib.sha256(f"decision\x1f{firing_id}".encode()).hexdigest()[:32]


class Decision(BaseModel):
    """One policy decision about one firing (the ``intervention-decisions`` contract, version 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = Field(default=1, description="Contract version; bumped on any incompatible change.")
    decision_id: StrictStr = Field(min_length=1, max_length=64, description="Derived from firing_id.")
    firing_id: StrictStr = Field(min_length=1, max_length=64, description="The firing decided on.")
    account_id: StrictStr = Field(min_length=1, max_length=128, description="The Kafka key.")
    trigger: StrictStr = Field(min_length=1, max_length=64)
    intervention: StrictStr | None = Field(description="The trigger's intervention; null only for no_intervention.")
    arm: Arm
    reason: Reason | None = Field(default=None, description="Why a suppressed firing was not acted on; null otherwise.")
    fired_at: Rfc3339 = Field(description="The firing's event time.")
    decided_at: Rfc3339 = Field(
        description="Event time the decision takes effect: fired_at, or the end of the account's quiet hours.")
    experiment: StrictStr = Field(min_length=1, max_length=64, description="The holdout salt: names the experiment.")
    command_id: StrictStr | None = Field(default=None, description="The command sent, for treated decisions only.")

    @model_validator(mode="after")
    def _arm_fields_agree(self) -> "Decision":
        if self.arm == "treated" and (self.command_id is None or self.reason is not None):
            raise ValueError("a treated decision names its command_id and no reason")
        if self.arm == "control" and (self.command_id is not None or self.reason is not None):
            raise ValueError("a control decision has neither a command_id nor a reason")
        if self.arm == "suppressed" and (self.reason is None or self.command_id is not None):
            raise ValueError("a suppressed decision has a reason and no command_id")
        if self.intervention is None and self.reason != "no_intervention":
            raise ValueError("only a no_intervention decision may lack an intervention")
        return self
