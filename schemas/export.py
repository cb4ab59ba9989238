"""JSON Schema export of the published contracts (what downstream systems read).

>>> "usage-event" in exported_schemas()
True
"""

from __future__ import annotations

import json
from pathlib import Path

from schemas.command import InterventionCommand
from schemas.decision import Decision
from schemas.event import UsageEvent
from schemas.receipt import Receipt

__all__ = ["CONTRACTS", "exported_schemas", "write_schemas"]

#: file stem -> pydantic model; other contracts (commands, receipts) join this table.
CONTRACTS = {
    "usage-event": UsageEvent,
    "intervention-decision": Decision,
    "intervention-command": InterventionCommand,
    "intervention-receipt": Receipt,
}


def exported_schemas() -> dict[str, str]:
    """Each contract's JSON Schema as the exact text written to ``deploy/schemas/``."""
    out = {}
    for stem, model in CONTRACTS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://forewarn.dev/schemas/{stem}.schema.json"
        out[stem] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, text in exported_schemas().items():
        path = directory / f"{stem}.schema.json"
        path.write_text(text)
        written.append(path)
    return written
