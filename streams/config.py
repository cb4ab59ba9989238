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

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from detectors import config as detectors_config
from detectors.config import ForewarnConfig
from interventions.channels.registry import CHANNELS_SECTION
from interventions.config import POLICY_SECTION
from interventions.measurement.costs import COSTS_SECTION

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = ["SECTIONS", "load_config", "config_from_text", "effective_config", "apply_settings"]

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
    """
    if settings.allowed_lateness_s is None:
        return config
    lateness_us = round(settings.allowed_lateness_s * 1_000_000)
    return replace(config, engine=replace(config.engine, allowed_lateness_us=lateness_us))


def effective_config(settings: "Settings") -> ForewarnConfig:
    """The settings' config file, loaded and with the settings' overrides applied."""
    return apply_settings(load_config(settings.config_path), settings)


def config_from_text(text: str, name: str = "<config>") -> ForewarnConfig:
    """The same as :func:`load_config` for YAML text."""
    return detectors_config.config_from_text(text, name, extra_sections=SECTIONS)
