"""Rendering an intervention's template for one firing: ``{{name}}`` placeholders in its texts.

Templates are written by success leads in the config, so the language is
deliberately tiny: ``{{account_id}}``, ``{{trigger}}``, ``{{intervention}}``,
``{{fired_at}}`` and ``{{evidence.<key>}}`` (a dotted path into the firing's
evidence). No expressions and no attribute access, so a template can never
run code or reach into objects. Unknown names are refused when the config is
read (:func:`check_template`); an evidence key a particular firing lacks
renders as the empty text.

>>> render({"subject": "Help for {{account_id}}", "links": ["https://x.test/{{evidence.plan}}"]},
...        {"account_id": "acct-1", "evidence": {"plan": "pro"}})
{'subject': 'Help for acct-1', 'links': ['https://x.test/pro']}
>>> check_template({"body": "{{acount_id}}"})
Traceback (most recent call last):
...
ValueError: unknown placeholder {{acount_id}}; did you mean {{account_id}}? (known: account_id, trigger, intervention, fired_at, evidence.<key>)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PLACEHOLDER", "NAMES", "render", "check_template"]

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*\}\}")
NAMES = ("account_id", "trigger", "intervention", "fired_at")


def _lookup(path: str, context: Mapping[str, Any]) -> str:
    head, _, rest = path.partition(".")
    value: Any = context.get(head)
    for part in rest.split(".") if rest else ():
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def render(template: Any, context: Mapping[str, Any]) -> Any:
    """The template with every placeholder in every text replaced; other values are kept as they are."""
    if isinstance(template, str):
        return PLACEHOLDER.sub(lambda m: _lookup(m.group(1), context), template)
    if isinstance(template, Mapping):
        return {k: render(v, context) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, context) for v in template]
    return template


def _placeholders(template: Any):
    if isinstance(template, str):
        yield from PLACEHOLDER.findall(template)
    elif isinstance(template, Mapping):
        for v in template.values():
            yield from _placeholders(v)
    elif isinstance(template, list):
        for v in template:
            yield from _placeholders(v)


def check_template(template: Any) -> None:
    """Raise ``ValueError`` naming the first placeholder that :func:`render` would not know."""
    for name in _placeholders(template):
        if name in NAMES or (name.startswith("evidence.") and len(name) > len("evidence.")):
            continue
        close = difflib.get_close_matches(name, list(NAMES), n=1)
        hint = f"did you mean {{{{{close[0]}}}}}? " if close else ""
        raise ValueError(f"unknown placeholder {{{{{name}}}}}; {hint}(known: {', '.join(NAMES)}, evidence.<key>)")
