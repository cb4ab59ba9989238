"""The usage-event contract: valid examples, every refusal reason, and never raising."""

from __future__ import annotations

import json
import sys

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
    assert (ev.event_id, ev.account_id, ev.type, ev.properties) == ("/app ce-1", "acct-9", "session.started", {"x": 1})


def test_cloudevents_ids_are_unique_per_source_so_two_producers_ids_do_not_collide():
    def ce(source: str | None, ce_id: str) -> bytes:
        obj = {"specversion": "1.0", "id": ce_id, "type": "payment.failed", "time": "2026-01-05T10:00:00Z",
               "data": {"account_id": "acct-1"}}
        if source is not None:
            obj["source"] = source
        return orjson.dumps(obj)

    billing, crm = parse_event(ce("/billing", "2")), parse_event(ce("/crm", "2"))
    assert isinstance(billing, Event) and isinstance(crm, Event) and billing.event_id != crm.event_id
    assert parse_event(ce("/billing", "2")).event_id == billing.event_id  # a redelivery is still one event
    long = parse_event(ce("/" + "s" * 300, "2"))
    assert isinstance(long, Event) and len(long.event_id) <= 128
    refused = parse_event(ce(None, "2"))
    assert isinstance(refused, EventError) and refused.reason == "missing_field" and "source" in refused.detail


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


# -- the native fast path against the reference classifier ------------------------------

from schemas import event as event_module  # noqa: E402


def _same(a, b) -> bool:
    """Equal and of the same types all the way down (1 == True == 1.0 in Python, not here)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # properties nested 1,024 deep are compared too
    try:
        return a == b and repr(a) == repr(b)
    finally:
        sys.setrecursionlimit(limit)


def _agree(raw: bytes) -> None:
    fast = parse_event(raw)
    reference = event_module._parse_reference(raw) if len(raw) <= MAX_EVENT_BYTES else fast
    assert _same(fast, reference), (raw, fast, reference)


_scalars = (st.none() | st.booleans() | st.integers(-(2**65), 2**65) | st.floats(allow_nan=False)
            | st.text(max_size=12))
_any_json = st.recursive(_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                         max_leaves=6)
_stamps = st.sampled_from([
    "2026-01-05T10:00:00Z", "2026-01-05T10:00:00.5Z", "2026-01-05T10:00:00.123456Z", "2026-01-05T10:00:00.1234567Z",
    "2026-01-05T10:00:60Z", "2026-02-29T10:00:00Z", "2024-02-29T23:59:59Z", "2026-01-05t10:00:00z",
    "2026-01-05 10:00:00Z", "2026-01-05T10:00:00+01:00", "2026-01-05T10:00:00", "2026-01-05T1٣:00:00Z",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "", "Z", "2026-01-05T10:00Z",
])


@st.composite
def _raw_events(draw):
    obj = {"event_id": draw(st.sampled_from(["e-1", "", "x" * 128, "x" * 129, "é" * 128, "é" * 129]) | st.text(max_size=6)),
           "account_id": draw(st.sampled_from(["acct-1", "", "a" * 129]) | st.text(max_size=6)),
           "type": draw(st.sampled_from(["feature.used", "a", "a\n", "A.b", "a..b", "a.b_c.d2", "é"])),
           "occurred_at": draw(_stamps)}
    if draw(st.booleans()):
        obj["user_id"] = draw(st.none() | st.text(max_size=4) | st.integers())
    if draw(st.booleans()):
        obj["properties"] = draw(st.dictionaries(st.text(max_size=6), _any_json, max_size=4) | _any_json)
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["value", "drop", "extra"]))
        if kind == "value":
            obj[draw(st.sampled_from(sorted(obj)))] = draw(_any_json)
        elif kind == "drop":
            obj.pop(draw(st.sampled_from(sorted(obj))), None)
        else:
            obj[draw(st.sampled_from(["colour", "specversion", "data", "time", "id"]))] = draw(_any_json)
    # the standard library writes what orjson refuses to (big integers, lone surrogates, Infinity)
    body = json.dumps(obj, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " :")]))
                      ).encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and body.startswith(b"{") and len(obj) > 0:
        # a duplicated key, first or last value wins depending on the parser: both must agree
        key = draw(st.sampled_from(sorted(obj)))
        dup = json.dumps({key: draw(_any_json)}).encode()[1:-1]
        body = (b"{" + dup + b"," + body[1:]) if draw(st.booleans()) else (body[:-1] + b"," + dup + b"}")
    return draw(st.sampled_from([b"", b" ", b"\n", b"\t", b"\xef\xbb\xbf", b"\x00"])) + body + \
        draw(st.sampled_from([b"", b"\n", b"\r\n", b" ", b"\x00", b"x", b"}"]))


@hsettings(max_examples=3000, deadline=None)
@given(_raw_events())
def test_the_native_path_agrees_with_the_reference_on_event_shaped_input(raw):
    _agree(raw)


@hsettings(max_examples=1500, deadline=None)
@given(raw=_raw_events(), cut=st.integers(0, 400), byte=st.integers(0, 255), how=st.sampled_from("rid"))
def test_the_native_path_agrees_with_the_reference_on_damaged_bytes(raw, cut, byte, how):
    i = cut % (len(raw) + 1)
    damaged = {"r": raw[:i] + bytes([byte]) + raw[i + 1:], "i": raw[:i] + bytes([byte]) + raw[i:],
               "d": raw[:i] + raw[i + 1:]}[how]
    _agree(damaged)


@hsettings(max_examples=800, deadline=None)
@given(st.binary(max_size=300))
def test_the_native_path_agrees_with_the_reference_on_arbitrary_bytes(raw):
    _agree(raw)


def test_the_native_path_agrees_at_the_edges():
    base = b'"account_id":"a","type":"x","occurred_at":"2026-01-05T10:00:00Z"'
    cases = [b'{"event_id":"\\ud800",' + base + b"}", b'{"event_id":"\\ud83d\\ude00",' + base + b"}",
             b'{"event_id":"\xed\xa0\x80",' + base + b"}", b'{"event_id":"a\x01",' + base + b"}",
             b'{"event\\u005fid":"a",' + base + b"}", b'{"event_id":"a",' + base + b',"properties":{"a":1,"a":2}}',
             b'{"event_id":"a",' + base + b',"properties":null}', b'{"event_id":"a",' + base + b',"user_id":null}']
    for n in (2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1):
        cases.append(b'{"event_id":"a",' + base + b',"properties":{"n":' + str(n).encode() + b"}}")
    for depth in (1022, 1023, 1024, 1025):
        cases.append(b'{"event_id":"a",' + base + b',"properties":{"n":' + b"[" * depth + b"]" * depth + b"}}")
    for number in (b"1e400", b"-0.0", b"1.0", b"0.1e-400", b"4.9e-324", b"123456789.123456789123456789", b"01", b"1."):
        cases.append(b'{"event_id":"a",' + base + b',"properties":{"n":' + number + b"}}")
    for raw in cases:
        _agree(raw)


def test_common_shapes_take_the_native_path(monkeypatch):
    def refuse(raw):
        raise AssertionError(f"fell back to the reference on a common line: {raw!r}")

    monkeypatch.setattr(event_module, "_parse_reference", refuse)
    lines = [
        b'{"event_id":"a.1","account_id":"a","type":"session.started","occurred_at":"2026-01-01T00:00:13Z",'
        b'"user_id":"u"}',
        b'{"event_id":"a.2","account_id":"a","type":"feature.used","occurred_at":"2026-01-01T00:00:13.25Z",'
        b'"properties":{"feature":"reports","seats":3,"trial":false,"plan":null},"user_id":null}\n',
    ]
    for line in lines:
        assert isinstance(parse_event(line), Event)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:10:00+01:00", "9999-12-31T23:30:00-01:00", "0999-12-31T23:59:59Z",
                                   "9000-01-01T00:00:00Z"])
def test_a_timestamp_outside_the_years_1000_to_8999_is_refused_not_a_later_crash(stamp):
    """These parse as aware datetimes, but a firing's evidence or deadline computed from them is not a
    date: the engine crashed on the chunk, every time, and the partition stalled."""
    got = parse_event(orjson.dumps({"event_id": "e", "account_id": "a", "type": "payment.failed",
                                    "occurred_at": stamp}))
    assert isinstance(got, EventError) and got.reason == "invalid_timestamp"
