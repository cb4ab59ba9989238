"""The intervention catalogue contract: what every intervention in the config must declare.

Each trigger names an intervention, and each intervention carries the success
metric that the measurement judges it by, so the catalogue is read by three
packages: ``detectors`` (a trigger must name an existing intervention with a
success metric), ``interventions`` (policy, channels, templates) and the
measurement. That makes its shape a contract, kept here below all of them.

This reader covers the fields every intervention has; ``template`` is free
form (the channel decides what it needs). The interventions package owns the
meaning of ``channel`` and ``template`` and extends this section as it grows.

>>> from schemas.config_yaml import load_yaml_text
>>> node = load_yaml_text('''
... onboarding_checkin:
...   channel: email
...   priority: 50
...   cooldown: 14d
...   success: {event: feature.used, where: {feature: {in: core}}, within: 7d}
...   template: {subject: Getting started, resource: "https://example.com/how-to"}
... ''', "forewarn.yaml")
>>> cat = parse_catalogue(node, {"core": frozenset({"reports"})})
>>> cat["onboarding_checkin"].success.describe()
'feature.used where feature in [reports] within 7d'
>>> cat["onboarding_checkin"].template["resource"]
'https://example.com/how-to'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.config_yaml import Mark, Node, format_duration
from schemas.predicate import EVENT_TYPE_RE, EventSpec, read_predicate

__all__ = ["SuccessMetric", "InterventionSpec", "parse_catalogue", "read_success_metric", "NAME_RE"]

#: Names of triggers, interventions and channels: lower-case words joined by ``_``.
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")

#: The most a template may weigh as JSON: it travels in every intervention command of its intervention.
MAX_TEMPLATE_BYTES = 64 * 1024

_FIELDS = ["channel", "priority", "cooldown", "success", "template", "description"]
_REQUIRED = ["channel", "priority", "cooldown", "success"]
_EXAMPLES = {
    "channel": "email",
    "priority": "50",
    "cooldown": "14d",
    "success": "{event: payment.succeeded, within: 7d}",
}


@dataclass(frozen=True, slots=True)
class SuccessMetric:
    """The intervention worked if an event matching any of ``events`` happens within ``within_us`` of it."""

    events: tuple[EventSpec, ...]
    within_us: int

    def matches(self, event_type: str, properties: Mapping[str, Any]) -> bool:
        return any(spec.matches(event_type, properties) for spec in self.events)

    def describe(self) -> str:
        return f"{' or '.join(s.describe() for s in self.events)} within {format_duration(self.within_us)}"


@dataclass(frozen=True, slots=True)
class InterventionSpec:
    """One catalogue entry. ``priority``: higher wins among competing firings."""

    name: str
    channel: str
    priority: int
    cooldown_us: int
    success: SuccessMetric
    template: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    mark: Mark | None = None
    channel_mark: Mark | None = None


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (JSON-ready)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def read_success_metric(node: Node, sets: Mapping[str, frozenset[Any]]) -> SuccessMetric:
    """``{event: type or [types], where: {...}, within: duration}``; ``where`` applies to every type."""
    spec = node.as_map("{event: payment.succeeded, within: 7d}")
    spec.check_keys(["event", "where", "within"], required=["event", "within"],
                    examples={"event": "payment.succeeded", "within": "7d"})
    kinds = spec.require("event").as_str_list(pattern=EVENT_TYPE_RE, what="event type", example="payment.succeeded")
    where_node = spec.get("where")
    where = read_predicate(where_node, sets) if where_node is not None else None
    return SuccessMetric(tuple(EventSpec(kind, where) for kind in kinds), spec.require("within").as_duration())


def parse_catalogue(node: Node, sets: Mapping[str, frozenset[Any]]) -> dict[str, InterventionSpec]:
    """Read the ``interventions:`` section: name → :class:`InterventionSpec`."""
    section = node.as_map("onboarding_checkin: {channel: email, ...}")
    catalogue: dict[str, InterventionSpec] = {}
    for name, entry_node in section.items():
        if NAME_RE.fullmatch(name) is None:
            raise entry_node.error(f"{name!r} is not a valid intervention name; use lower_case_with_underscores", at_key=True)
        entry = entry_node.as_map("{channel: email, priority: 50, cooldown: 14d, success: {...}}")
        entry.check_keys(_FIELDS, required=_REQUIRED, examples=_EXAMPLES)
        template = entry.get("template")
        plain_template: dict[str, Any] = {}
        if template is not None:
            template.as_map("{subject: ..., resource: https://...}")
            plain_template = _plain(template.value)  # the loader has bounded its aliases' expansion
            size = len(json.dumps(plain_template, default=str, ensure_ascii=False).encode())
            if size > MAX_TEMPLATE_BYTES:
                raise template.error(f"the template is {size // 1024} kB as JSON (aliases expanded); it travels in "
                                     f"every command, so keep it under {MAX_TEMPLATE_BYTES // 1024} kB (link long "
                                     "content instead of including it)")
        description = entry.get("description")
        channel = entry.require("channel")
        catalogue[name] = InterventionSpec(
            name=name,
            channel=channel.as_str(pattern=NAME_RE, what="channel name", example="email"),
            priority=entry.require("priority").as_int(minimum=0, maximum=1000, example="50"),
            cooldown_us=entry.require("cooldown").as_duration(minimum_us=0),
            success=read_success_metric(entry.require("success"), sets),
            template=plain_template,
            description=description.as_str(what="description", example="'Check-in with a how-to'") if description else "",
            mark=entry_node.key_mark,
            channel_mark=channel.mark,
        )
    return catalogue
