"""The usage-event contract: one JSON object per Kafka message.

Two views of the same contract live here. ``UsageEvent`` is the pydantic model
at the boundary (producers, JSON Schema export, documentation). ``parse_event``
is the hot-path parser the workers use on raw Kafka values: it never raises and
returns either an ``Event`` (a plain slotted object with event time in epoch
microseconds) or an ``EventError`` with a reason code for the dead-letter topic.
A differential property test keeps the two in agreement.

>>> ev = parse_event(b'{"event_id":"e1","account_id":"a1","type":"feature.used",'
...                  b'"occurred_at":"2026-01-05T10:00:00Z","properties":{"feature":"reports"}}')
>>> ev.type, ev.account_id, ev.properties["feature"]
('feature.used', 'a1', 'reports')
>>> parse_event(b'{"event_id":"e1"}').reason
'missing_field'
>>> parse_event(b'{"event_id":"e1","account_id":"a1","type":"x","occurred_at":"2026-01-05T10:00:00"}').reason
'naive_timestamp'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from schemas.timefmt import NaiveTimestamp, format_rfc3339, parse_rfc3339

__all__ = [
    "MAX_EVENT_BYTES",
    "EVENT_TYPE_PATTERN",
    "REASONS",
    "Event",
    "EventError",
    "UsageEvent",
    "parse_event",
    "event_to_json",
]

MAX_EVENT_BYTES = 64 * 1024
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)
_REQUIRED = ("event_id", "account_id", "type", "occurred_at")
_ALLOWED = frozenset(_REQUIRED + ("user_id", "properties"))

#: Every reason a raw message can be refused for, as written in the DLQ ``reason`` header.
REASONS = (
    "too_large",
    "invalid_json",
    "not_an_object",
    "missing_field",
    "unknown_field",
    "invalid_field",
    "naive_timestamp",
    "invalid_timestamp",
)


def _rfc3339_only(value: Any) -> Any:
    """Hold the model to RFC 3339 with an offset: no epoch numbers, no shortened forms."""
    if isinstance(value, str):
        parse_rfc3339(value)  # raises on anything that is not RFC 3339 with an offset
        return datetime.fromisoformat(value.upper())
    if isinstance(value, datetime):
        return value
    raise ValueError("occurred_at must be an RFC 3339 string with an offset")


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]


class UsageEvent(BaseModel):
    """A product-usage event as producers write it (the published contract).

    >>> UsageEvent(event_id="e1", account_id="a1", type="session.started",
    ...            occurred_at="2026-01-05T10:00:00+02:00").occurred_at.isoformat()
    '2026-01-05T10:00:00+02:00'
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    event_id: StrictStr = Field(min_length=1, max_length=128, description="Unique per event; a repeat is a redelivery.")
    account_id: StrictStr = Field(min_length=1, max_length=128, description="The Kafka key.")
    user_id: StrictStr | None = Field(default=None, description="Optional user within the account.")
    type: StrictStr = Field(pattern=EVENT_TYPE_PATTERN, description="Dotted lower-case event type, e.g. feature.used.")
    occurred_at: Rfc3339 = Field(description="Event time, RFC 3339 with an offset.")
    properties: dict[str, Any] = Field(default_factory=dict, description="Free-form attributes, e.g. {feature: reports}.")


@dataclass(frozen=True, slots=True)
class Event:
    """A valid usage event inside Forewarn; ``ts`` is event time in epoch microseconds."""

    event_id: str
    account_id: str
    type: str
    ts: int
    user_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def occurred_at(self) -> str:
        return format_rfc3339(self.ts)


@dataclass(frozen=True, slots=True)
class EventError:
    """Why a raw message is not a usage event: a reason code and a human detail."""

    reason: str
    detail: str


def _error(reason: str, detail: str) -> EventError:
    return EventError(reason, detail)


def _check_id(obj: dict, name: str) -> EventError | None:
    value = obj[name]
    if not isinstance(value, str) or not 1 <= len(value) <= 128:
        return _error("invalid_field", f"{name} must be a string of 1-128 characters")
    return None


def _from_cloudevent(obj: dict) -> dict | EventError:
    """Map CloudEvents 1.0 structured JSON onto the contract's fields."""
    data = obj.get("data")
    if not isinstance(data, dict):
        return _error("invalid_field", "CloudEvent data must be an object carrying account_id")
    account = data.get("account_id", obj.get("subject"))
    props = data.get("properties", {k: v for k, v in data.items() if k not in ("account_id", "user_id")})
    mapped = {
        "event_id": obj.get("id"),
        "account_id": account,
        "type": obj.get("type"),
        "occurred_at": obj.get("time"),
        "user_id": data.get("user_id"),
        "properties": props,
    }
    for name in _REQUIRED:
        if mapped[name] is None:
            return _error("missing_field", f"CloudEvent lacks what maps to {name}")
    return mapped


def parse_event(raw: bytes | bytearray | memoryview | str | None) -> Event | EventError:
    """Parse one raw Kafka value. Never raises: every input is an event or an error."""
    if raw is None:
        return _error("invalid_json", "empty message (null value)")
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_EVENT_BYTES:
        return _error("too_large", f"message is {len(raw)} bytes; the limit is {MAX_EVENT_BYTES}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error("invalid_json", f"not JSON: {str(exc)[:120]}")
    if not isinstance(obj, dict):
        return _error("not_an_object", f"a usage event is a JSON object, not {type(obj).__name__}")
    if "specversion" in obj:
        obj = _from_cloudevent(obj)
        if isinstance(obj, EventError):
            return obj
    for name in _REQUIRED:
        if name not in obj:
            return _error("missing_field", f"required field {name!r} is missing")
    if len(obj) > 4 or not _ALLOWED.issuperset(obj):
        unknown = sorted(set(obj) - _ALLOWED)
        if unknown:
            return _error("unknown_field", f"unknown field(s) {', '.join(map(repr, unknown))[:200]}")
    for name in ("event_id", "account_id"):
        err = _check_id(obj, name)
        if err:
            return err
    kind = obj["type"]
    if not isinstance(kind, str) or _TYPE_RE.match(kind) is None or kind.endswith("\n"):
        return _error("invalid_field", f"type must match {EVENT_TYPE_PATTERN}")
    user = obj.get("user_id")
    if user is not None and not isinstance(user, str):
        return _error("invalid_field", "user_id must be a string or null")
    props = obj.get("properties", {})
    if not isinstance(props, dict):
        return _error("invalid_field", "properties must be an object")
    stamp = obj["occurred_at"]
    if not isinstance(stamp, str):
        return _error("invalid_timestamp", "occurred_at must be an RFC 3339 string")
    try:
        ts = parse_rfc3339(stamp)
    except NaiveTimestamp:
        return _error("naive_timestamp", "occurred_at has no UTC offset; add Z or +hh:mm")
    except (ValueError, OverflowError):
        return _error("invalid_timestamp", "occurred_at is not a valid RFC 3339 timestamp")
    return Event(obj["event_id"], obj["account_id"], kind, ts, user, props)


def event_to_json(event: Event) -> bytes:
    """Serialise an ``Event`` back to the contract's JSON (UTC ``Z`` timestamps)."""
    body: dict[str, Any] = {
        "event_id": event.event_id,
        "account_id": event.account_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
    }
    if event.user_id is not None:
        body["user_id"] = event.user_id
    if event.properties:
        body["properties"] = event.properties
    return orjson.dumps(body)

