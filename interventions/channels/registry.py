"""The registry of channel kinds, and the ``channels:`` section that names channel instances.

::

    channels:
      success_hook: {kind: webhook, url: "https://hooks.example.com/forewarn", rate_limit: 50/s}
      csm:          {kind: csm_task, url: "https://csm.example.com/api/tasks", timeout: 5s}
      email:        {kind: email, host: smtp.example.com, from: success@example.com}
      outreach:     {kind: kafka, topic: customer-outreach}

Every intervention's ``channel`` must name an entry here (when the section is
present), and interventions sent by email must have a ``subject`` in their
template. Secrets (signing keys, SMTP passwords) are never
in this file: the dispatcher takes them from its settings, by channel name.

>>> from schemas.config_yaml import load_yaml_text
>>> specs = parse_channels(load_yaml_text("{hook: {kind: webhook, url: 'https://h.example.com', rate_limit: 20/s}}", "f.yaml"), {})
>>> specs["hook"].kind, specs["hook"].rate_per_s, specs["hook"].timeout_s
('webhook', 20.0, 10.0)
>>> parse_channels(load_yaml_text("{hook: {kind: webhok, url: x}}", "f.yaml"), {})
Traceback (most recent call last):
...
schemas.config_yaml.ConfigError: f.yaml:1:15: hook.kind: unknown channel kind 'webhok'; did you mean 'webhook'? (known kinds: csm_task, email, kafka, webhook)
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

from interventions.channels.base import Channel, ChannelSpec
from interventions.channels.csm_task import CsmTaskChannel
from interventions.channels.email import EmailChannel
from interventions.channels.kafka_topic import KafkaTopicChannel
from interventions.channels.ssrf import TargetGuard
from interventions.channels.webhook import WebhookChannel
from schemas.catalogue import NAME_RE
from schemas.config_yaml import ConfigError, Node, Section, excerpt

__all__ = ["CHANNEL_KINDS", "parse_channels", "build_channel", "CHANNELS_SECTION"]

#: kind -> channel class. The ``kafka`` entry only parses; the runtime supplies its sending class.
CHANNEL_KINDS: dict[str, type[Channel]] = {
    cls.kind: cls for cls in (WebhookChannel, CsmTaskChannel, EmailChannel, KafkaTopicChannel)
}

_COMMON = ("kind", "timeout", "rate_limit")
_RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*/\s*(s|m|h)")  # [0-9]: \d would take any script's digits
_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _rate(node: Node) -> float:
    text = node.as_str(what="rate limit", example="50/s")
    match = _RATE.fullmatch(text.strip())
    if match is None or not 0 < float(match.group(1)) < math.inf:
        raise node.error(f"{excerpt(text)} is not a rate limit; write sends per second, minute or hour, "
                         "e.g. 50/s or 600/m")
    return float(match.group(1)) / _PER[match.group(2)]


def parse_channels(node: Node, parsed: Mapping[str, Any]) -> dict[str, ChannelSpec]:
    """Read the ``channels:`` section, then check the catalogue's channels against it."""
    specs: dict[str, ChannelSpec] = {}
    for name, entry_node in node.as_map("success_hook: {kind: webhook, url: https://...}").items():
        if NAME_RE.fullmatch(name) is None:
            raise entry_node.error(f"{name!r} is not a valid channel name; use lower_case_with_underscores", at_key=True)
        entry = entry_node.as_map("{kind: webhook, url: https://hooks.example.com/forewarn}")
        kind_node = entry.require("kind", " | ".join(sorted(CHANNEL_KINDS)))
        kind = kind_node.as_str(what="channel kind", example="webhook")
        cls = CHANNEL_KINDS.get(kind)
        if cls is None:
            close = difflib.get_close_matches(kind, list(CHANNEL_KINDS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise kind_node.error(f"unknown channel kind {kind!r}; {hint}(known kinds: {', '.join(sorted(CHANNEL_KINDS))})")
        entry.check_keys(list(_COMMON) + list(cls.keys), required=list(cls.required), examples=cls.required)
        timeout = entry.get("timeout")
        rate = entry.get("rate_limit")
        specs[name] = ChannelSpec(
            name=name, kind=kind, options=cls.parse_options(entry),
            timeout_s=timeout.as_duration(minimum_us=1_000_000) / 1e6 if timeout is not None else 10.0,
            rate_per_s=_rate(rate) if rate is not None else None,
            mark=entry_node.key_mark,
        )
    _check_catalogue(specs, parsed)
    return specs


def _check_catalogue(specs: Mapping[str, ChannelSpec], parsed: Mapping[str, Any]) -> None:
    for spec in (parsed.get("interventions") or {}).values():
        where = f"{spec.mark}: interventions.{spec.name}.channel"
        channel = specs.get(spec.channel)
        if channel is None:
            close = difflib.get_close_matches(spec.channel, list(specs), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{where}: unknown channel {spec.channel!r}; {hint}define it under channels: "
                              f"(defined: {', '.join(sorted(specs)) or 'none'})")
        if channel.kind == "email" and not spec.template.get("subject"):
            raise ConfigError(f"{spec.mark}: interventions.{spec.name}.template: an email needs a subject; "
                              f"add e.g. subject: Getting started")


def build_channel(spec: ChannelSpec, secret: str | None, guard: TargetGuard,
                  kinds: Mapping[str, type[Channel]] = CHANNEL_KINDS) -> Channel:
    """A ready channel for ``spec`` (``kinds`` lets the runtime add the classes it implements)."""
    return kinds[spec.kind].build(spec, secret, guard)


#: The ``channels:`` section for :func:`schemas.config_yaml.load_document` (optional).
CHANNELS_SECTION = Section("channels", parse_channels, default=lambda parsed: {},
                           example="{success_hook: {kind: webhook, url: https://hooks.example.com/forewarn}}")
