"""The ``policy:`` section of the config: spam protection and the experiment, read strictly.

::

    policy:
      decision_window: 1h          # firings of one account in one window compete; priority wins
      frequency_cap: {max: 2, per: 7d}
      holdout: {share: 10%, salt: exp-2026-01, triggers: {payment_failing: 20%}}
      quiet_hours: {start: "21:00", end: "08:00", default_timezone: Europe/Berlin}
      dedupe_horizon: 30d          # how long a firing id is remembered
      command_expires_after: 2d    # a command not delivered by then is not sent

Every key is optional (the defaults are those above, without quiet hours and
with the salt ``forewarn-holdout-1``). The parser also checks what the policy
will need from the rest of the file: per-trigger holdout shares must name
defined triggers, and every intervention's template may only use known
placeholders (see :mod:`interventions.template`).

>>> from schemas.config_yaml import load_yaml_text
>>> cfg = parse_policy(load_yaml_text("{frequency_cap: {max: 3, per: 14d}, holdout: {share: 5%}}", "f.yaml"), {})
>>> cfg.cap_max, cfg.holdout_share("any_trigger"), cfg.salt
(3, 0.05, 'forewarn-holdout-1')
>>> parse_policy(load_yaml_text("{holdout: {share: 1.5}}", "f.yaml"), {})
Traceback (most recent call last):
...
schemas.config_yaml.ConfigError: f.yaml:1:19: holdout.share: 1.5 is not a share; write a fraction below 1 such as 0.1, or a percentage such as 10%
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from interventions.quiet_hours import QuietHours, zone
from interventions.template import check_template
from schemas.config_yaml import ConfigError, Node, Section, excerpt
from schemas.timefmt import US_PER_DAY, US_PER_HOUR

__all__ = ["PolicyConfig", "parse_policy", "POLICY_SECTION"]

_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")  # [0-9]: \d would take any script's digits
# The Decision contract's experiment id: 1-64 characters, none of them a control character (a newline
# in the salt would end up in every decision record and log line).
_SALT = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,64}")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%")
_SHARE_HINT = "write a fraction below 1 such as 0.1, or a percentage such as 10%"


@dataclass(frozen=True)
class PolicyConfig:
    """The policy's settings; durations in microseconds."""

    decision_window_us: int = US_PER_HOUR
    cap_max: int = 2
    cap_window_us: int = 7 * US_PER_DAY
    default_holdout: float = 0.10
    holdout_by_trigger: Mapping[str, float] = field(default_factory=dict)
    salt: str = "forewarn-holdout-1"
    quiet_hours: QuietHours | None = None
    dedupe_horizon_us: int = 30 * US_PER_DAY
    command_ttl_us: int = 2 * US_PER_DAY

    def holdout_share(self, trigger: str) -> float:
        return self.holdout_by_trigger.get(trigger, self.default_holdout)


def _share(node: Node) -> float:
    value = node.value
    if isinstance(value, str) and value.strip().endswith("%"):
        match = _PERCENT.fullmatch(value.strip())
        if match is None:
            raise node.error(f"{excerpt(node.value)} is not a share; {_SHARE_HINT}")
        value = float(match.group(1)) / 100
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        shown = excerpt(node.value) if isinstance(node.value, str) else excerpt(repr(node.value))[1:-1]
        raise node.error(f"{shown} is not a share; {_SHARE_HINT}")
    return float(value)


def _clock(node: Node) -> int:
    text = node.as_str(what="time of day", example='"21:00"')
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise node.error(f"{text!r} is not a time of day; write HH:MM in 24-hour form, quoted, e.g. \"21:00\"")
    return int(match.group(1)) * 60 + int(match.group(2))


def _quiet_hours(node: Node) -> QuietHours:
    spec = node.as_map('{start: "21:00", end: "08:00", default_timezone: Europe/Berlin}')
    spec.check_keys(["start", "end", "default_timezone"], required=["start", "end"],
                    examples={"start": '"21:00"', "end": '"08:00"'})
    start, end = _clock(spec.require("start")), _clock(spec.require("end"))
    if start == end:
        raise spec.require("end").error("quiet hours must end at another time than they start")
    tz_node = spec.get("default_timezone")
    tz = None
    if tz_node is not None and tz_node.value is not None:
        tz = tz_node.as_str(what="IANA time zone", example="Europe/Berlin")
        if zone(tz) is None:
            raise tz_node.error(f"{tz!r} is not a known IANA time zone; write e.g. Europe/Berlin or UTC")
    return QuietHours(start, end, tz)


def parse_policy(node: Node, parsed: Mapping[str, Any]) -> PolicyConfig:
    """Read the ``policy:`` section (``parsed``: the sections read before it, for the cross-checks)."""
    defaults = PolicyConfig()
    spec = node.as_map("{frequency_cap: {max: 2, per: 7d}, holdout: {share: 10%}}")
    spec.check_keys(["decision_window", "frequency_cap", "holdout", "quiet_hours", "dedupe_horizon",
                     "command_expires_after"])
    values: dict[str, Any] = {}
    if (n := spec.get("decision_window")) is not None:
        values["decision_window_us"] = n.as_duration(minimum_us=1_000_000)
    if (n := spec.get("frequency_cap")) is not None:
        cap = n.as_map("{max: 2, per: 7d}")
        cap.check_keys(["max", "per"], required=["max", "per"], examples={"max": "2", "per": "7d"})
        values["cap_max"] = cap.require("max").as_int(minimum=1, maximum=1000, example="2")
        values["cap_window_us"] = cap.require("per").as_duration()
    if (n := spec.get("holdout")) is not None:
        holdout = n.as_map("{share: 10%, salt: exp-2026-01}")
        holdout.check_keys(["share", "salt", "triggers"])
        if (s := holdout.get("share")) is not None:
            values["default_holdout"] = _share(s)
        if (s := holdout.get("salt")) is not None:
            values["salt"] = s.as_str(pattern=_SALT, what="experiment salt of 1-64 characters and no control characters "
                                      "such as newlines (it is each decision's experiment id)", example="exp-2026-01")
        if (t := holdout.get("triggers")) is not None:
            known = parsed.get("triggers") or {}
            per: dict[str, float] = {}
            for name, share_node in t.as_map("{payment_failing: 20%}").items():
                if known and name not in known:
                    close = difflib.get_close_matches(name, list(known), n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    raise share_node.error(f"unknown trigger {name!r}; {hint}(triggers: {', '.join(sorted(known))})",
                                           at_key=True)
                per[name] = _share(share_node)
            values["holdout_by_trigger"] = per
    if (n := spec.get("quiet_hours")) is not None and n.value is not None:
        values["quiet_hours"] = _quiet_hours(n)
    if (n := spec.get("dedupe_horizon")) is not None:
        values["dedupe_horizon_us"] = n.as_duration(minimum_us=US_PER_HOUR)
    if (n := spec.get("command_expires_after")) is not None:
        values["command_ttl_us"] = n.as_duration(minimum_us=60_000_000)
    check_templates(parsed)
    return replace(defaults, **values)


def check_templates(parsed: Mapping[str, Any]) -> None:
    """Every intervention's template uses known placeholders only (error at the intervention)."""
    for spec in (parsed.get("interventions") or {}).values():
        try:
            check_template(spec.template)
        except ValueError as exc:
            raise ConfigError(f"{spec.mark}: interventions.{spec.name}.template: {exc}") from None


#: The ``policy:`` section for :func:`schemas.config_yaml.load_document` (optional; defaults when absent).
POLICY_SECTION = Section("policy", parse_policy,
                         default=lambda parsed: (check_templates(parsed), PolicyConfig())[1],
                         example="{frequency_cap: {max: 2, per: 7d}, holdout: {share: 10%}}")
