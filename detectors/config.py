"""The Forewarn config file: ``engine:``, ``interventions:`` and ``triggers:``, read strictly.

One YAML file holds what support and success leads write: value sets and
event-time settings (``engine``), the intervention catalogue
(``interventions``, see :mod:`schemas.catalogue`) and the triggers, each
written in a registered primitive (:mod:`detectors.registry`) and naming its
intervention. Every mistake is a :class:`ConfigError` whose message starts
with ``file:line:column:``; the semantic checks (a trigger's intervention
must exist and carry a success metric) run after parsing.
``forewarn check-config`` runs exactly :func:`load_config`.

Other packages add top-level sections without touching this module: pass
:class:`schemas.config_yaml.Section` objects as ``extra_sections`` (their
parsers receive the sections parsed before them) and read the results from
``ForewarnConfig.extra``.

>>> cfg = config_from_text('''
... engine: {sets: {core_features: [reports, dashboards]}}
... interventions:
...   checkin: {channel: email, priority: 10, cooldown: 14d,
...             success: {event: feature.used, where: {feature: {in: core_features}}, within: 7d}}
... triggers:
...   onboarding_stalled:
...     kind: absence
...     after: account.onboarded
...     expect: {event: feature.used, where: {feature: {in: core_features}}}
...     within: 7d
...     intervention: checkin
... ''')
>>> cfg.triggers["onboarding_stalled"].rule.describe()
'after account.onboarded, expect feature.used where feature in [dashboards, reports] within 7d; at most once per account'
>>> cfg.success_metric("onboarding_stalled").describe()
'feature.used where feature in [dashboards, reports] within 7d'
>>> config_from_text("triggers: {}\\ninterventions: {}\\nengin: {}\\n", "x.yaml")
Traceback (most recent call last):
...
schemas.config_yaml.ConfigError: x.yaml:3:1: engin: unknown key 'engin'; did you mean 'engine'?
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.base import Primitive
from detectors.registry import TRIGGER_KINDS
from schemas.catalogue import NAME_RE, InterventionSpec, SuccessMetric, parse_catalogue
from schemas.config_yaml import (
    ConfigError,
    Mark,
    Node,
    Section,
    format_duration,
    load_document,
    load_yaml,
    load_yaml_text,
)
from schemas.timefmt import US_PER_DAY, US_PER_MINUTE

__all__ = [
    "ConfigError",
    "EngineSettings",
    "check_state_ttl",
    "TriggerSpec",
    "ForewarnConfig",
    "SECTIONS",
    "load_config",
    "config_from_text",
]

_COMMON_KEYS = ("kind", "intervention", "description")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """The ``engine:`` section: event-time settings and named value sets used by ``where`` clauses."""

    allowed_lateness_us: int = 5 * US_PER_MINUTE
    state_ttl_us: int = 400 * US_PER_DAY
    sets: Mapping[str, frozenset[Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """One trigger: its rule (a primitive instance, or another trigger kind's object), its intervention, its place."""

    name: str
    rule: Any
    intervention: str
    description: str = ""
    mark: Mark | None = None
    intervention_mark: Mark | None = None


@dataclass(frozen=True)
class ForewarnConfig:
    """The whole validated config file."""

    source: str
    engine: EngineSettings
    interventions: dict[str, InterventionSpec]
    triggers: dict[str, TriggerSpec]
    extra: dict[str, Any] = field(default_factory=dict)

    def rules(self) -> list[Primitive]:
        """The rule triggers' primitives, in file order (the engine's input); other trigger kinds are left out."""
        return [t.rule for t in self.triggers.values() if isinstance(t.rule, Primitive)]

    def triggers_of_kind(self, kind: str) -> list[TriggerSpec]:
        """The triggers written with ``kind:`` ``kind`` (e.g. ``usage_drop`` for the online model)."""
        return [t for t in self.triggers.values() if t.rule.kind == kind]

    def success_metric(self, trigger: str) -> SuccessMetric:
        """The success metric a trigger is judged by: its intervention's."""
        return self.interventions[self.triggers[trigger].intervention].success


def _parse_engine(node: Node, _parsed: Mapping[str, Any]) -> EngineSettings:
    engine = node.as_map("{allowed_lateness: 5m, sets: {core_features: [reports]}}")
    engine.check_keys(["allowed_lateness", "state_ttl", "sets"])
    defaults = EngineSettings()
    lateness = engine.get("allowed_lateness")
    ttl = engine.get("state_ttl")
    sets: dict[str, frozenset[Any]] = {}
    sets_node = engine.get("sets")
    if sets_node is not None:
        for name, values in sets_node.as_map("{core_features: [reports, dashboards]}").items():
            if NAME_RE.fullmatch(name) is None:
                raise values.error(f"{name!r} is not a valid set name; use lower_case_with_underscores", at_key=True)
            items = values.as_list("[reports, dashboards]")
            if not items:
                raise values.error("the set is empty; list at least one value")
            for item in items:
                if isinstance(item.value, bool) or not isinstance(item.value, (str, int, float)):
                    raise item.error("set values must be text or numbers")
                if isinstance(item.value, float) and not math.isfinite(item.value):
                    raise item.error(f"{item.value} can never match: no event property holds .nan or .inf; "
                                     "write a finite number")
            sets[name] = frozenset(item.value if not isinstance(item.value, str) else str(item.value) for item in items)
    return EngineSettings(
        allowed_lateness_us=lateness.as_duration(minimum_us=0) if lateness is not None else defaults.allowed_lateness_us,
        state_ttl_us=ttl.as_duration(minimum_us=US_PER_DAY) if ttl is not None else defaults.state_ttl_us,
        sets=sets,
    )


def _parse_interventions(node: Node, parsed: Mapping[str, Any]) -> dict[str, InterventionSpec]:
    return parse_catalogue(node, parsed["engine"].sets)


def _parse_triggers(node: Node, parsed: Mapping[str, Any], kinds: Mapping[str, type] = TRIGGER_KINDS
                    ) -> dict[str, TriggerSpec]:
    section = node.as_map("onboarding_stalled: {kind: absence, ...}")
    sets = parsed["engine"].sets
    triggers: dict[str, TriggerSpec] = {}
    for name, entry_node in section.items():
        if NAME_RE.fullmatch(name) is None:
            raise entry_node.error(f"{name!r} is not a valid trigger name; use lower_case_with_underscores", at_key=True)
        entry = entry_node.as_map("{kind: absence, after: ..., intervention: ...}")
        kind_node = entry.require("kind", f"one of {', '.join(sorted(kinds))}")
        kind = kind_node.as_str(what="trigger kind", example="absence")
        cls = kinds.get(kind)
        if cls is None:
            close = difflib.get_close_matches(kind, list(kinds), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise kind_node.error(f"unknown trigger kind {kind!r}; {hint}(known kinds: {', '.join(sorted(kinds))})")
        required = getattr(cls, "required", {})
        entry.check_keys(list(_COMMON_KEYS) + list(cls.keys), required=list(required), examples=required)
        intervention = entry.get("intervention")
        if intervention is None:
            raise entry.error(
                "missing required key 'intervention'; name the intervention from the interventions: section "
                "that responds to this trigger (a trigger without a response is noise)", at_key=True)
        description = entry.get("description")
        triggers[name] = TriggerSpec(
            name=name,
            rule=cls.from_config(name, entry, sets),
            intervention=intervention.as_str(pattern=NAME_RE, what="intervention name", example="onboarding_checkin"),
            description=description.as_str(what="description", example="'Onboarding stalled'") if description else "",
            mark=entry_node.key_mark,
            intervention_mark=intervention.mark,
        )
    if not triggers:
        raise node.error("no triggers are defined; add at least one trigger (see deploy/config/forewarn.yaml)", at_key=True)
    return triggers


def _check_responses(parsed: Mapping[str, Any]) -> None:
    """Every trigger names an intervention that exists (the catalogue already requires its success metric)."""
    catalogue: dict[str, InterventionSpec] = parsed["interventions"]
    for trigger in parsed["triggers"].values():
        spec = catalogue.get(trigger.intervention)
        if spec is None:
            known = ", ".join(sorted(catalogue)) or "none defined"
            close = difflib.get_close_matches(trigger.intervention, list(catalogue), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{trigger.intervention_mark}: triggers.{trigger.name}.intervention: unknown intervention {trigger.intervention!r}; "
                f"{hint}define it under interventions: (known: {known})"
            )


def check_state_ttl(engine: EngineSettings, triggers: Mapping[str, TriggerSpec], lateness_variable: str | None = None) -> None:
    """The live store forgets an account ``state_ttl`` after its last write (the backtest never does): it
    must outlive every trigger's horizon plus the allowed lateness, or silent accounts — the ones that should
    fire — are forgotten. ``lateness_variable`` names the setting the lateness came from, when not the file."""
    for trigger in triggers.values():
        horizon = getattr(trigger.rule, "horizon_us", lambda: 0)()
        need = horizon + engine.allowed_lateness_us
        if not horizon or engine.state_ttl_us >= need:
            continue
        keep = (f"its state must be kept {format_duration(need)} after an account's last event, but "
                f"engine.state_ttl is {format_duration(engine.state_ttl_us)}")
        if lateness_variable is None:
            raise ConfigError(f"{trigger.mark}: triggers.{trigger.name}: {keep}; raise engine.state_ttl to at least "
                              f"{format_duration(need)}")
        most_s = max(0, engine.state_ttl_us - horizon) // 1_000_000
        raise ConfigError(
            f"{lateness_variable}={engine.allowed_lateness_us / 1_000_000:g}: triggers.{trigger.name} ({trigger.mark}): "
            f"with this allowed lateness {keep}; set {lateness_variable} to at most {most_s} or raise "
            f"engine.state_ttl to at least {format_duration(need)}")


def _check_state_ttl(parsed: Mapping[str, Any]) -> None:
    check_state_ttl(parsed["engine"], parsed["triggers"])


#: The sections this package reads, in parse order (value sets first: the others use them).
SECTIONS: tuple[Section, ...] = (
    Section("engine", _parse_engine, default=lambda _parsed: EngineSettings()),
    Section("interventions", _parse_interventions, required=True,
            example="{onboarding_checkin: {channel: email, priority: 50, cooldown: 14d, success: {...}}}"),
    Section("triggers", _parse_triggers, required=True,
            example="{onboarding_stalled: {kind: absence, ..., intervention: onboarding_checkin}}"),
)


def _build(root: Node, source: str, extra_sections: Sequence[Section],
           trigger_kinds: Mapping[str, type]) -> ForewarnConfig:
    names = {s.name for s in SECTIONS}
    for section in extra_sections:
        if section.name in names:
            raise ValueError(f"section {section.name!r} is already read by detectors.config")
    sections = list(SECTIONS)
    if trigger_kinds is not TRIGGER_KINDS:
        sections[-1] = Section("triggers", lambda node, parsed: _parse_triggers(node, parsed, trigger_kinds),
                               required=True, example=SECTIONS[-1].example)
    parsed = load_document(root, sections + list(extra_sections), checks=[_check_responses, _check_state_ttl])
    return ForewarnConfig(
        source=source,
        engine=parsed["engine"],
        interventions=parsed["interventions"],
        triggers=parsed["triggers"],
        extra={s.name: parsed[s.name] for s in extra_sections},
    )


def load_config(path: str | Path, extra_sections: Sequence[Section] = (),
                trigger_kinds: Mapping[str, type] = TRIGGER_KINDS) -> ForewarnConfig:
    """Read and validate a config file: the start-up checks, all of them."""
    return _build(load_yaml(path), str(path), extra_sections, trigger_kinds)


def config_from_text(text: str, name: str = "<config>", extra_sections: Sequence[Section] = (),
                     trigger_kinds: Mapping[str, type] = TRIGGER_KINDS) -> ForewarnConfig:
    """The same as :func:`load_config` for YAML text (tests, documentation)."""
    return _build(load_yaml_text(text, name), name, extra_sections, trigger_kinds)
