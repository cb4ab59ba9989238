"""Helpers of the deployment tests: the manifests' directory, YAML loading, settings-name checks."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

from streams.config import load_config
from streams.dispatcher.settings import DispatcherSettings
from streams.dispatcher.worker import DispatcherConfigError, build_channels
from streams.envcheck import unknown_names
from streams.settings import Settings

__all__ = ["DEPLOY", "DOCS", "TESTDATA", "KUBERNETES_VERSION", "load_all", "unknown_setting_names",
           "channel_secret_names", "build_shipped_channels", "documented_secret_names"]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DOCS = DEPLOY.parent / "docs"
CONFIG = DEPLOY / "config" / "forewarn.yaml"
TESTDATA = Path(__file__).parent / "testdata"
KUBERNETES_VERSION = "1.33.0"
# Variables Settings reads besides FOREWARN_* (aliases of two fields).
ALIASES = {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"}


def load_all(path: Path) -> list[dict]:
    """Every YAML document of a file, merge keys resolved (as docker compose and kubectl do)."""
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]


def unknown_setting_names(names) -> list[str]:
    """Environment names that no Settings field (or nested field) would pick up: typos, judged as
    Settings itself judges them at start-up (:func:`streams.envcheck.unknown_names`); here a name
    without the ``FOREWARN_`` prefix (other than the two aliases) is one too.

    >>> unknown_setting_names(["REDIS_URL", "FOREWARN_TOPICS__PARTITIONS", "FOREWARN_TOPICS__PARTITION"])
    ['FOREWARN_TOPICS__PARTITION']
    """
    names = list(names)
    unknown = set(unknown_names(Settings, dict.fromkeys(names, "")))
    return [n for n in names if n in unknown or (n not in ALIASES and not n.startswith("FOREWARN_"))]


def _secret_env(channel: str) -> str:
    return f"FOREWARN_DISPATCHER__CHANNEL_SECRETS__{channel.upper()}"


def channel_secret_names() -> list[str]:
    """FOREWARN_DISPATCHER__CHANNEL_SECRETS__<NAME> of each channel of the shipped config that needs a secret,
    as the dispatcher decides it: its ``build_channels`` refuses the channel without one."""
    settings = Settings(config_path=CONFIG, dispatcher=DispatcherSettings())
    needed = []
    for name, spec in load_config(CONFIG).extra["channels"].items():
        try:
            channels = build_channels({name: spec}, settings)
        except DispatcherConfigError:
            needed.append(_secret_env(name))
            continue
        for channel in channels.values():
            channel.close()
    return needed


def build_shipped_channels(env: dict[str, str]) -> list[str]:
    """Build the shipped config's channels, as the dispatcher does at start-up, from the settings in ``env``
    (raises DispatcherConfigError when a secret is missing); returns the channel names."""
    secrets = {name[len(_secret_env("")):].lower(): value for name, value in env.items()
               if name.startswith(_secret_env(""))}
    settings = Settings(config_path=CONFIG, dispatcher=DispatcherSettings(channel_secrets=secrets))
    channels = build_channels(load_config(CONFIG).extra["channels"], settings)
    for channel in channels.values():
        channel.close()
    return sorted(channels)


def documented_secret_names(doc: Path) -> list[str]:
    """The variables the ``kubectl create secret generic forewarn-credentials`` command in ``doc`` sets."""
    command = re.search(r"create secret generic forewarn-credentials((?:[^\n]*\\\n)*[^\n]*)", doc.read_text())
    assert command is not None, f"{doc} shows no `kubectl create secret generic forewarn-credentials` command"
    return re.findall(r"--from-literal=([A-Z0-9_]+)=", command.group(1))
