"""The decision, command and receipt contracts: versioned, strict, stable ids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.command import InterventionCommand, command_id
from schemas.decision import Decision, decision_id
from schemas.receipt import Receipt

COMMAND = dict(command_id="c1", firing_id="f1", account_id="acct-1", trigger="payment_failing",
               intervention="payment_outreach", channel="hook",
               payload={"content": {"subject": "x"}, "evidence": {"count": 3}},
               decided_at="2026-01-05T10:00:00Z", expires_at="2026-01-07T10:00:00Z")


def test_ids_are_deterministic_per_firing_and_differ_between_kinds():
    assert command_id("f1") == command_id("f1") != command_id("f2")
    assert decision_id("f1") != command_id("f1")
    assert len(command_id("f1")) == 32


@pytest.mark.parametrize("model,base", [(InterventionCommand, COMMAND),
                                        (Receipt, dict(command_id="c1", account_id="a", channel="hook",
                                                       outcome="delivered", attempts=1, at="2026-01-05T10:00:00Z"))])
def test_unknown_fields_naive_times_and_other_versions_are_refused(model, base):
    assert model(**base).schema_version == 1
    with pytest.raises(ValidationError):
        model(**base, surprise=1)
    with pytest.raises(ValidationError):
        model(**{**base, "schema_version": 2})
    time_field = "decided_at" if model is InterventionCommand else "at"
    with pytest.raises(ValidationError):
        model(**{**base, time_field: "2026-01-05T10:00:00"})


def test_command_must_expire_after_its_decision_and_is_frozen():
    with pytest.raises(ValidationError, match="expires_at must be after decided_at"):
        InterventionCommand(**{**COMMAND, "expires_at": "2026-01-05T10:00:00Z"})
    cmd = InterventionCommand(**COMMAND)
    with pytest.raises(ValidationError):
        cmd.channel = "other"


def test_decision_arms_carry_exactly_their_fields():
    base = dict(decision_id="d1", firing_id="f1", account_id="a", trigger="t", intervention="i",
                fired_at="2026-01-05T10:00:00Z", decided_at="2026-01-05T10:00:00Z", experiment="e")
    Decision(**base, arm="treated", command_id="c1")
    Decision(**base, arm="control")
    Decision(**base, arm="suppressed", reason="cooldown")
    for bad in (dict(arm="treated"), dict(arm="control", reason="cooldown"), dict(arm="suppressed"),
                dict(arm="suppressed", reason="bored")):
        with pytest.raises(ValidationError):
            Decision(**base, **bad)


def test_receipt_outcomes_are_closed():
    with pytest.raises(ValidationError):
        Receipt(command_id="c1", account_id="a", channel="hook", outcome="maybe", attempts=1, at="2026-01-05T10:00:00Z")
