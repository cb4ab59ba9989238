"""Which events a trigger or a success metric means: an event type and a ``where`` predicate.

The same small language is read in two places of the config — a trigger's
``expect: {event: feature.used, where: {feature: {in: core_features}}}`` and an
intervention's ``success: {event: ..., where: ...}`` — so it lives here, below
both packages. A ``where`` maps property names to a condition:

- a scalar — equal to it (``plan: pro``);
- a list — one of its items (``feature: [reports, dashboards]``);
- ``{in: [...]}`` or ``{in: set_name}`` — one of the items, or of a named value set;
- ``{not_in: ...}`` — the opposite (an absent property is not in any set);
- ``{exists: true|false}`` — the property is present (and not null) or not.

Conditions on several properties must all hold. Comparison is by JSON type:
the text ``"1"`` is not the number ``1`` and ``true`` is not ``1``.

>>> from schemas.config_yaml import load_yaml_text
>>> node = load_yaml_text("{event: feature.used, where: {feature: {in: core}}}")
>>> spec = read_event_spec(node, {"core": frozenset({"reports", "dashboards"})})
>>> spec.matches("feature.used", {"feature": "reports"}), spec.matches("feature.used", {"feature": "settings"})
(True, False)
>>> spec.describe()
'feature.used where feature in [dashboards, reports]'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.config_yaml import Node
from schemas.event import EVENT_TYPE_PATTERN

__all__ = ["Condition", "Predicate", "EventSpec", "read_predicate", "read_event_spec", "read_event_specs", "EVENT_TYPE_RE"]

EVENT_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _typed(value: Any) -> tuple[str, Any] | None:
    """A comparison key that keeps JSON types apart (``True`` is not ``1``, ``"1"`` is not ``1``); None for
    what no event property can equal (containers, null, and .nan or .inf, which JSON cannot carry)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("text", value)
    return None


@dataclass(frozen=True, slots=True)
class Condition:
    """One property condition: membership (``values``, maybe negated) or presence (``values`` None)."""

    prop: str
    values: frozenset[tuple[str, Any]] | None
    negate: bool = False

    def holds(self, properties: Mapping[str, Any]) -> bool:
        return self.compile()(properties)

    def compile(self):
        """A fast ``properties -> bool`` for the hot path (one dict lookup and one set lookup)."""
        prop, negate = self.prop, self.negate
        if self.values is None:
            if negate:
                return lambda props: props.get(prop) is None
            return lambda props: props.get(prop) is not None
        texts = frozenset(v for k, v in self.values if k == "text")
        numbers = frozenset(v for k, v in self.values if k == "number")
        bools = frozenset(v for k, v in self.values if k == "bool")
        if not numbers and not bools:
            if negate:
                return lambda props: not ((v := props.get(prop)).__class__ is str and v in texts)
            return lambda props: (v := props.get(prop)).__class__ is str and v in texts

        def holds(props: Mapping[str, Any]) -> bool:
            v = props.get(prop)
            t = v.__class__
            if t is str:
                found = v in texts
            elif t is bool:
                found = v in bools
            elif t is int or t is float:
                found = v in numbers
            else:
                found = False
            return found != negate

        return holds

    def describe(self) -> str:
        if self.values is None:
            return f"{self.prop} {'is absent' if self.negate else 'exists'}"
        shown = ", ".join(str(v).lower() if k == "bool" else str(v) for k, v in sorted(self.values, key=repr))
        return f"{self.prop} {'not in' if self.negate else 'in'} [{shown}]"


@dataclass(frozen=True, slots=True)
class Predicate:
    """All conditions must hold for an event's ``properties``.

    >>> p = Predicate((Condition("plan", frozenset({("text", "pro")})),))
    >>> p({"plan": "pro"}), p({"plan": "free"}), p({})
    (True, False, False)
    """

    conditions: tuple[Condition, ...]
    _check: Any = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        checks = tuple(c.compile() for c in self.conditions)
        if len(checks) == 1:
            check = checks[0]
        else:
            def check(props: Mapping[str, Any]) -> bool:
                for one in checks:
                    if not one(props):
                        return False
                return True
        object.__setattr__(self, "_check", check)

    def __call__(self, properties: Mapping[str, Any]) -> bool:
        return self._check(properties)

    def compiled(self):
        """The predicate as a plain function (no method dispatch), for the engine's per-event loop."""
        return self._check

    def describe(self) -> str:
        return " and ".join(c.describe() for c in self.conditions)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event type and an optional predicate on its properties."""

    type: str
    where: Predicate | None = None

    def matches(self, event_type: str, properties: Mapping[str, Any]) -> bool:
        return event_type == self.type and (self.where is None or self.where(properties))

    def describe(self) -> str:
        return self.type if self.where is None else f"{self.type} where {self.where.describe()}"


def _values(node: Node, sets: Mapping[str, frozenset[Any]]) -> frozenset[tuple[str, Any]]:
    if isinstance(node.value, str):
        name = node.value
        if name not in sets:
            known = ", ".join(sorted(sets)) or "none defined"
            raise node.error(
                f"unknown value set {name!r} (known: {known}); define it under engine.sets or write the values as a list"
            )
        raw = list(sets[name])
    else:
        items = node.as_list("[reports, dashboards] or the name of a value set")
        if not items:
            raise node.error("the list is empty; list at least one value")
        raw = []
        for item in items:
            if _typed(item.value) is None:
                raise item.error("values must be text, finite numbers or true/false (no event holds .nan or .inf)")
            raw.append(item.value)
    return frozenset(_typed(v) for v in raw)


def _refuse_set_name(node: Node, prop: str, sets: Mapping[str, frozenset[Any]]) -> None:
    """A value-set name written where a value goes would be compared as plain text and match nothing."""
    if isinstance(node.value, str) and node.value in sets:
        raise node.error(f"{node.value!r} is the name of a value set, compared here as plain text; "
                         f"to match its values write {prop}: {{in: {node.value}}}")


def read_predicate(node: Node, sets: Mapping[str, frozenset[Any]]) -> Predicate:
    """Read a ``where:`` mapping (see the module docstring) into a :class:`Predicate`."""
    where = node.as_map("{feature: {in: [reports, dashboards]}}")
    if not where.keys():
        raise where.error("an empty where matches everything; remove it or add a condition such as feature: reports")
    conditions = []
    for prop, cond in where.items():
        if _NAME_RE.fullmatch(prop) is None:
            raise cond.error(f"{prop!r} is not a property name; use letters, digits and _", at_key=True)
        value = cond.value
        if isinstance(value, Mapping):
            ops = cond.as_map()
            ops.check_keys(["in", "not_in", "exists"])
            if len(ops.keys()) != 1:
                raise ops.error("write exactly one of in:, not_in: or exists: for a property; use separate properties to combine")
            op, arg = next(ops.items())
            if op == "exists":
                conditions.append(Condition(prop, None, negate=not arg.as_bool()))
            else:
                conditions.append(Condition(prop, _values(arg, sets), negate=(op == "not_in")))
        elif isinstance(value, list):
            for item in cond.as_list():
                _refuse_set_name(item, prop, sets)
            conditions.append(Condition(prop, _values(cond, sets)))
        elif _typed(value) is not None:
            _refuse_set_name(cond, prop, sets)
            conditions.append(Condition(prop, frozenset({_typed(value)})))
        elif isinstance(value, float):
            raise cond.error(f"{value} can never match: no event property holds .nan or .inf (JSON has no such "
                             "numbers); write a finite number")
        else:
            raise cond.error("expected a value, a list of values or {in: ...}/{not_in: ...}/{exists: ...}")
    return Predicate(tuple(conditions))


def read_event_spec(node: Node, sets: Mapping[str, frozenset[Any]]) -> EventSpec:
    """An event spec: a bare event type, or ``{event: type, where: {...}}``."""
    type_example = "feature.used"
    if isinstance(node.value, str):
        return EventSpec(node.as_str(pattern=EVENT_TYPE_RE, what="event type", example=type_example))
    spec = node.as_map("feature.used or {event: feature.used, where: {feature: reports}}")
    spec.check_keys(["event", "where"], required=["event"], examples={"event": type_example})
    kind = spec.require("event").as_str(pattern=EVENT_TYPE_RE, what="event type", example=type_example)
    where = spec.get("where")
    return EventSpec(kind, read_predicate(where, sets) if where is not None else None)


def read_event_specs(node: Node, sets: Mapping[str, frozenset[Any]]) -> list[EventSpec]:
    """One event spec or a list of them (any of which counts)."""
    if isinstance(node.value, list):
        items = node.as_list()
        if not items:
            raise node.error("the list is empty; name at least one event type, e.g. [session.started]")
        return [read_event_spec(item, sets) for item in items]
    return [read_event_spec(node, sets)]
