"""Forewarn's contracts: usage events, firings, and their JSON forms. Imports nothing of ours."""

from schemas.errors import ForewarnError
from schemas.event import REASONS, Event, EventError, UsageEvent, event_to_json, parse_event
from schemas.firing import Firing, firing_id, firing_sort_key
from schemas.timefmt import format_rfc3339, parse_rfc3339

__all__ = [
    "ForewarnError",
    "REASONS",
    "Event",
    "EventError",
    "UsageEvent",
    "event_to_json",
    "parse_event",
    "Firing",
    "firing_id",
    "firing_sort_key",
    "format_rfc3339",
    "parse_rfc3339",
]
