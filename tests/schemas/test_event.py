"""The usage-event contract: valid examples, every refusal reason, and never raising."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from pydantic import ValidationError

from schemas.event import MAX_EVENT_BYTES, REASONS, Event, EventError, UsageEvent, event_to_json, parse_event
from schemas.timefmt import parse_rfc3339

VALID = {
    "event_id": "e-1",
    "account_id": "acct-1",
    "user_id": "u-1",
    "type": "feature.used",
    "occurred_at": "2026-01-05T10:00:00.5+01:00",
    "properties": {"feature": "reports"},
}


def test_valid_event_round_trips():
    ev = parse_event(orjson.dumps(VALID))
    assert isinstance(ev, Event)
    assert ev.ts == parse_rfc3339("2026-01-05T09:00:00.5Z")
    again = parse_event(event_to_json(ev))
    assert again == ev
    model = UsageEvent.model_validate_json(event_to_json(ev))
    assert model.account_id == "acct-1" and model.occurred_at.utcoffset().total_seconds() == 0


def test_unknown_event_types_are_valid():
    ev = parse_event(orjson.dumps({**VALID, "type": "workspace.renamed_v2"}))
    assert isinstance(ev, Event) and ev.type == "workspace.renamed_v2"


def test_cloudevents_structured_json_is_accepted():
    ce = {"specversion": "1.0", "id": "ce-1", "source": "/app", "type": "session.started",
          "time": "2026-01-05T10:00:00Z", "data": {"account_id": "acct-9", "user_id": "u", "properties": {"x": 1}}}
    ev = parse_event(orjson.dumps(ce))
    assert isinstance(ev, Event)
    assert (ev.event_id, ev.account_id, ev.type, ev.properties) == ("ce-1", "acct-9", "session.started", {"x": 1})


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (orjson.dumps({k: v for k, v in VALID.items() if k != "account_id"}), "missing_field"),
        (orjson.dumps({**VALID, "extra": 1}), "unknown_field"),
        (orjson.dumps({**VALID, "event_id": ""}), "invalid_field"),
        (orjson.dumps({**VALID, "account_id": "a" * 129}), "invalid_field"),
        (orjson.dumps({**VALID, "account_id": 7}), "invalid_field"),
        (orjson.dumps({**VALID, "type": "Feature.Used"}), "invalid_field"),
        (orjson.dumps({**VALID, "type": "feature..used"}), "invalid_field"),
        (orjson.dumps({**VALID, "user_id": 3}), "invalid_field"),
        (orjson.dumps({**VALID, "properties": [1]}), "invalid_field"),
        (orjson.dumps({**VALID, "occurred_at": "2026-01-05T10:00:00"}), "naive_timestamp"),
        (orjson.dumps({**VALID, "occurred_at": "2026-02-30T10:00:00Z"}), "invalid_timestamp"),
        (orjson.dumps({**VALID, "occurred_at": 1767225600}), "invalid_timestamp"),
        (orjson.dumps({**VALID, "properties": {"blob": "x" * MAX_EVENT_BYTES}}), "too_large"),
    ],
)
def test_each_refusal_has_its_reason(raw, reason):
    result = parse_event(raw)
    assert isinstance(result, EventError)
    assert result.reason == reason
    assert result.reason in REASONS and result.detail


@hsettings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(raw):
    result = parse_event(raw)
    assert isinstance(result, (Event, EventError))
    if isinstance(result, EventError):
        assert result.reason in REASONS


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(["", "a", "x" * 129, "feature.used", "Bad Type", "2026-01-05T10:00:00Z",
                     "2026-01-05T10:00:00", "2026-01-05T10:00:00+05:30", "not a time", "2026-01-05T10:00Z",
                     "2026-01-05 10:00:00z", "20260105T100000Z", 0, 1767225600, 1.5, True]),
)


@hsettings(max_examples=600, deadline=None)
@given(
    drop=st.sets(st.sampled_from(sorted(VALID))),
    replace=st.dictionaries(st.sampled_from(sorted(VALID) + ["extra"]), field_values, max_size=3),
)
def test_mutated_events_agree_with_the_pydantic_contract(drop, replace):
    """The fast parser accepts exactly what the published pydantic model accepts."""
    obj = {k: v for k, v in VALID.items() if k not in drop}
    obj.update(replace)
    raw = orjson.dumps(obj)
    result = parse_event(raw)
    assert isinstance(result, (Event, EventError))
    try:
        model = UsageEvent.model_validate_json(raw)
    except ValidationError:
        assert isinstance(result, EventError), f"parser accepted what the contract refuses: {obj}"
    else:
        assert isinstance(result, Event), f"parser refused a contract-valid event ({result}): {obj}"
        assert result.account_id == model.account_id and result.type == model.type
