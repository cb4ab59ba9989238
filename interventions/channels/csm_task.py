"""The ``csm_task`` channel: a webhook to a CSM tool that opens a task for the account's success manager.

Configured and signed exactly like ``webhook``; only the body differs — a
task, not the raw command::

    {"external_id": "<command id>", "title": "...", "description": "...",
     "account_id": "acct-42", "priority": "high", "due_at": "<expires_at>",
     "source": "forewarn", "trigger": "...", "intervention": "...", "evidence": {...}}

``title``, ``description`` and ``priority`` come from the intervention's
rendered template when it has them (defaults: the intervention and account,
the template's ``body``, ``normal``). ``external_id`` lets the tool dedupe.

>>> from schemas.command import InterventionCommand
>>> cmd = InterventionCommand(command_id="c1", firing_id="f1", account_id="acct-1", trigger="t",
...     intervention="renewal_call", channel="csm", payload={"content": {"title": "Call them"}, "evidence": {}},
...     decided_at="2026-01-01T00:00:00Z", expires_at="2026-01-03T00:00:00Z")
>>> import orjson
>>> task = orjson.loads(task_body(cmd))
>>> task["title"], task["external_id"], task["due_at"]
('Call them', 'c1', '2026-01-03T00:00:00Z')
"""

from __future__ import annotations

from typing import ClassVar

import orjson

from interventions.channels.webhook import WebhookChannel
from schemas.command import InterventionCommand

__all__ = ["CsmTaskChannel", "task_body"]


def task_body(command: InterventionCommand) -> bytes:
    content = command.payload.content
    return orjson.dumps({
        "external_id": command.command_id,
        "title": str(content.get("title") or f"{command.intervention} for {command.account_id}"),
        "description": str(content.get("description") or content.get("body") or ""),
        "account_id": command.account_id,
        "priority": str(content.get("priority") or "normal"),
        "due_at": command.model_dump(mode="json")["expires_at"],
        "source": "forewarn",
        "trigger": command.trigger,
        "intervention": command.intervention,
        "evidence": command.payload.evidence,
    })


class CsmTaskChannel(WebhookChannel):
    """A signed webhook whose body is a task for a customer-success tool."""

    kind: ClassVar[str] = "csm_task"

    def body(self, command: InterventionCommand, raw: bytes) -> bytes:
        return task_body(command)
