"""The registry of rule primitives: ``kind:`` in the config → the class that implements it.

Adding a primitive is one module implementing :class:`detectors.base.Primitive`
plus one entry here; the config reader, the engine and the shared contract test
(``tests/detectors/test_primitive_contract.py``) pick it up from this table.

``TRIGGER_KINDS`` is what the ``triggers:`` section accepts: every primitive,
plus trigger kinds that are not per-event rules (the online ``usage_drop``
model is scored per partition, not folded per account). Such a class needs
``kind``, ``keys`` (its config keys), ``from_config(name, node, sets)`` and
``describe()``; the rule engine ignores it (``ForewarnConfig.rules()``).

>>> sorted(PRIMITIVES)
['absence', 'count', 'habit_silence']
>>> set(PRIMITIVES) <= set(TRIGGER_KINDS)
True
>>> primitive_class("count").__name__
'Count'
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from detectors.absence import Absence
from detectors.base import Primitive
from detectors.count import Count
from detectors.habit_silence import HabitSilence
from detectors.online.usage_drop import UsageDrop

__all__ = ["PRIMITIVES", "TRIGGER_KINDS", "primitive_class"]

PRIMITIVES: Mapping[str, type[Primitive]] = MappingProxyType(
    {cls.kind: cls for cls in (Absence, Count, HabitSilence)}
)


#: Every kind the config accepts; non-rule kinds are added here next to the primitives.
TRIGGER_KINDS: Mapping[str, type] = MappingProxyType({**PRIMITIVES, UsageDrop.kind: UsageDrop})


def primitive_class(kind: str) -> type[Primitive]:
    """The class registered for ``kind``; KeyError names the known kinds."""
    try:
        return PRIMITIVES[kind]
    except KeyError:
        raise KeyError(f"unknown trigger kind {kind!r}; known kinds: {', '.join(sorted(PRIMITIVES))}") from None
