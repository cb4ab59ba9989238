"""The whole config file, every section: the one loader start-up and ``check-config`` should call.

``detectors.config`` reads ``engine:``, ``interventions:`` and ``triggers:``
and lets other packages add sections without importing them (detectors must
not import interventions). This module, which may import both, assembles the
full document: it adds ``policy:`` (:mod:`interventions.config`),
``channels:`` (:mod:`interventions.channels.registry`) and ``costs:``
(:mod:`interventions.measurement.costs`), all optional, whose parsed values
land in ``ForewarnConfig.extra["policy"]``, ``extra["channels"]`` and
``extra["costs"]``. A loader that passes fewer sections refuses files that
use the others, so every command should read the config through here.

>>> cfg = config_from_text('''
... interventions:
...   checkin: {channel: hook, priority: 10, cooldown: 14d, success: {event: feature.used, within: 7d}}
... triggers:
...   stalled: {kind: absence, after: account.onboarded, expect: feature.used, within: 7d, intervention: checkin}
... policy: {frequency_cap: {max: 1, per: 7d}}
... channels: {hook: {kind: webhook, url: "https://hooks.example.com/forewarn"}}
... ''')
>>> cfg.extra["policy"].cap_max, cfg.extra["channels"]["hook"].kind
(1, 'webhook')
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from detectors import config as detectors_config
from detectors.config import ForewarnConfig, check_state_ttl
from interventions.channels.registry import CHANNELS_SECTION
from interventions.config import POLICY_SECTION
from interventions.measurement.costs import COSTS_SECTION
from schemas.config_yaml import MAX_DURATION_US, ConfigError, Mark, format_duration

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = ["SECTIONS", "load_config", "config_from_text", "effective_config", "apply_settings",
           "check_dispatcher_config", "load_dispatcher_config"]

#: The setting that overrides ``engine.allowed_lateness`` (``Settings.allowed_lateness_s``).
LATENESS_VARIABLE = "FOREWARN_ALLOWED_LATENESS_S"

#: The sections beyond the detectors' own, in parse order (channels checks the catalogue parsed before it).
SECTIONS = (POLICY_SECTION, CHANNELS_SECTION, COSTS_SECTION)


def load_config(path: str | Path) -> ForewarnConfig:
    """Read and validate every section of a config file."""
    return detectors_config.load_config(path, extra_sections=SECTIONS)


def apply_settings(config: ForewarnConfig, settings: "Settings") -> ForewarnConfig:
    """``config`` with the settings' override of ``engine.allowed_lateness`` applied, if any.

    The allowed lateness decides which events are late and when deadlines fire, so the live worker,
    the watermark ticks and the backtest must all use the same value: the file's, unless
    ``FOREWARN_ALLOWED_LATENESS_S`` is set.

    Its value gets the checks the file's gets: at most the longest duration a config may give, and the
    state must still outlive every trigger's horizon plus this lateness (a :class:`ConfigError` naming the
    variable otherwise).
    """
    if settings.allowed_lateness_s is None:
        return config
    seconds = settings.allowed_lateness_s
    if not math.isfinite(seconds) or not 0 <= seconds * 1_000_000 <= MAX_DURATION_US:
        raise ConfigError(f"{LATENESS_VARIABLE}={seconds:g}: the allowed lateness must be 0 to "
                          f"{MAX_DURATION_US // 1_000_000} seconds ({format_duration(MAX_DURATION_US)}); set a number of "
                          "seconds in that range, or unset it to use the file's engine.allowed_lateness")
    engine = replace(config.engine, allowed_lateness_us=round(seconds * 1_000_000))
    check_state_ttl(engine, config.triggers, LATENESS_VARIABLE)
    return replace(config, engine=engine)


def effective_config(settings: "Settings") -> ForewarnConfig:
    """The settings' config file, loaded and with the settings' overrides applied."""
    return apply_settings(load_config(settings.config_path), settings)


def check_dispatcher_config(config: ForewarnConfig) -> None:
    """What the dispatcher needs of the file beyond :func:`load_config`: a ``channels:`` section.

    The section is optional for the loader (the worker, backtest and reports never send anything), but the
    dispatcher cannot start without it, and without it no intervention's ``channel:`` is checked against
    anything (``channel: emial`` passes). When the section is present, :func:`load_config` has already checked
    every intervention's channel against it, so this is the whole of the file's part; what the file cannot
    show (each channel's secret in ``FOREWARN_DISPATCHER__CHANNEL_SECRETS__<NAME>``, whether a target answers)
    is checked by the dispatcher at start-up and at each send.

    >>> cfg = config_from_text('''
    ... interventions:
    ...   checkin: {channel: hook, priority: 10, cooldown: 14d, success: {event: feature.used, within: 7d}}
    ... triggers:
    ...   stalled: {kind: absence, after: account.onboarded, expect: feature.used, within: 7d, intervention: checkin}
    ... ''', "f.yaml")
    >>> check_dispatcher_config(cfg)
    Traceback (most recent call last):
    ...
    schemas.config_yaml.ConfigError: f.yaml:3:22: interventions.checkin.channel: 'hook' names no channel: the file has no channels: section, which the dispatcher needs to send interventions; add e.g. channels: {hook: {kind: webhook, url: "https://hooks.example.com/forewarn"}}
    """
    if config.extra.get("channels"):
        return
    spec = next(iter(config.interventions.values()), None)
    if spec is None:
        raise ConfigError(f"{config.source}:1:1: the file has no channels: section, which the dispatcher needs to "
                          'send interventions; add e.g. channels: {success_hook: {kind: webhook, url: "https://..."}}')
    raise ConfigError(
        f"{spec.channel_mark or spec.mark or Mark(config.source, 1, 1)}: interventions.{spec.name}.channel: "
        f"{spec.channel!r} names no channel: the file has no channels: section, which the dispatcher needs to send "
        f'interventions; add e.g. channels: {{{spec.channel}: {{kind: webhook, url: "https://hooks.example.com/forewarn"}}}}')


def load_dispatcher_config(path: str | Path) -> ForewarnConfig:
    """:func:`load_config` and :func:`check_dispatcher_config`: the dispatcher's start-up checks of the file."""
    config = load_config(path)
    check_dispatcher_config(config)
    return config


def config_from_text(text: str, name: str = "<config>") -> ForewarnConfig:
    """The same as :func:`load_config` for YAML text."""
    return detectors_config.config_from_text(text, name, extra_sections=SECTIONS)
