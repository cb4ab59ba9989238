"""Records the tests send to a real process: importable from any test (tests/ is on sys.path via its conftest)."""

from __future__ import annotations

import time
import uuid


def intervention_command(account_id: str) -> bytes:
    """A valid ``intervention-commands`` record for the ``csm_task`` channel, decided a minute ago, due in an hour."""
    from schemas.command import InterventionCommand
    from schemas.timefmt import format_rfc3339

    now_us = int(time.time() * 1e6)
    return InterventionCommand(
        command_id=f"cmd-{uuid.uuid4().hex[:12]}", firing_id="f-1", account_id=account_id,
        trigger="payment_failing", intervention="payment_outreach", channel="csm_task",
        payload={"content": {"subject": "s"}, "evidence": {"failures": 3}},
        decided_at=format_rfc3339(now_us - 60_000_000), expires_at=format_rfc3339(now_us + 3_600_000_000),
    ).model_dump_json().encode()


def dispatcher_config(path, hook_url: str, **channel_options: object):
    """A config file (JSON, which the YAML loader reads) whose one trigger's intervention goes out through
    ``csm_task``, a webhook to ``hook_url`` (``channel_options`` such as ``timeout="5m"`` added); returns ``path``."""
    import orjson

    path.write_bytes(orjson.dumps({
        "interventions": {"payment_outreach": {"channel": "csm_task", "priority": 10, "cooldown": "1d",
                                               "success": {"event": "payment.succeeded", "within": "7d"},
                                               "template": {"subject": "Your payment did not go through"}}},
        "triggers": {"payment_failing": {"kind": "count", "event": "payment.failed", "threshold": 3,
                                         "window": "30d", "reset_on": ["payment.succeeded"],
                                         "rearm_on": ["payment.succeeded"], "intervention": "payment_outreach"}},
        "channels": {"csm_task": {"kind": "webhook", "url": hook_url, **channel_options}},
    }))
    return path
