"""What several commands share: building Settings the way every command does."""

from __future__ import annotations

import os

from streams.settings import Settings

__all__ = ["load_settings"]


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; without KAFKA_BOOTSTRAP_SERVERS / REDIS_URL, a running
    ``forewarn dev up`` stack supplies them, so commands work right after ``dev up``."""
    if not (os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("FOREWARN_KAFKA_BOOTSTRAP_SERVERS")):
        from forewarn.devinfra import DevInfraError, DevStack

        try:
            ends = DevStack().endpoints()
        except DevInfraError:
            ends = None
        if ends is not None:
            overrides.setdefault("kafka_bootstrap_servers", ends.kafka_bootstrap_servers)
            if not (os.environ.get("REDIS_URL") or os.environ.get("FOREWARN_REDIS_URL")):
                overrides.setdefault("redis_url", ends.redis_url)
    return Settings(**overrides)
