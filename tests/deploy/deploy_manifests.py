"""Helpers of the deployment tests: the manifests' directory, YAML loading, settings-name checks."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from streams.settings import Settings

__all__ = ["DEPLOY", "TESTDATA", "KUBERNETES_VERSION", "load_all", "unknown_setting_names"]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TESTDATA = Path(__file__).parent / "testdata"
KUBERNETES_VERSION = "1.33.0"
# Variables Settings reads besides FOREWARN_* (aliases of two fields).
ALIASES = {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"}


def load_all(path: Path) -> list[dict]:
    """Every YAML document of a file, merge keys resolved (as docker compose and kubectl do)."""
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]


def unknown_setting_names(names) -> list[str]:
    """Environment names that no Settings field (or nested field) would pick up: typos.

    >>> unknown_setting_names(["REDIS_URL", "FOREWARN_TOPICS__PARTITIONS", "FOREWARN_TOPICS__PARTITION"])
    ['FOREWARN_TOPICS__PARTITION']
    """
    bad = []
    for name in names:
        if name in ALIASES:
            continue
        if not name.startswith("FOREWARN_"):
            bad.append(name)
            continue
        path = name[len("FOREWARN_"):].lower().split("__")
        model = Settings
        for part in path:
            fields = getattr(model, "model_fields", None)
            if fields is None or part not in fields:
                bad.append(name)
                break
            model = fields[part].annotation
    return bad
