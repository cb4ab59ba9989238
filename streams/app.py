"""The Faust application of Forewarn workers.

``create_app(settings)`` builds the app with its agents; nothing connects until a
worker starts. The module-level ``app`` exists only because ``faust -A streams.app
worker`` looks for one: it is built from the environment at import, which is the
one import-time construction we allow, and it opens no connection.

The volume-carrying agent (detect, on ``usage-events``) runs on the batch path
(``streams.batching``): it takes one partition's fetched chunk at a time.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import faust
from prometheus_client import CollectorRegistry

from streams.agents.detect import DetectRuntime
from streams.agents.detect_metrics import DetectMetrics
from streams.batching.agent import batch_agent
from streams.batching.app import batch_app
from streams.health import install_worker_health
from streams.settings import Settings

__all__ = ["create_app", "app"]

log = logging.getLogger("forewarn.app")


def _detect_runtime(settings: Settings, registry: CollectorRegistry) -> DetectRuntime:
    import redis

    from detectors.config import load_config
    from detectors.engine import Engine
    from streams.stores.detector_redis import RedisDetectorStore

    config = load_config(settings.config_path)
    lateness_us = int(settings.allowed_lateness_s * 1_000_000)
    engine = Engine.from_config(config, allowed_lateness_us=lateness_us)
    client = redis.Redis.from_url(settings.redis_url.get_secret_value(), **settings.redis_kwargs())
    store = RedisDetectorStore(client, engine.codec, namespace=f"det:{settings.topics.usage_events}")
    metrics = DetectMetrics(registry, [r.name for r in engine.rules])
    return DetectRuntime(settings, engine, store, metrics)


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """A Faust app wired to ``settings``: broker, credentials, serializers, agents, health, metrics."""
    registry = registry or CollectorRegistry()
    app = batch_app(settings, registry=registry)
    app.forewarn_settings = settings
    app.forewarn_registry = registry
    source = settings.topics.usage_events
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="forewarn-detect")
    holder: dict[str, DetectRuntime] = {}

    def runtime() -> DetectRuntime:
        # Built on first use, inside the running worker: reading the config and
        # opening clients are not import-time work.
        if "detect" not in holder:
            holder["detect"] = _detect_runtime(settings, registry)
        return holder["detect"]

    async def detect(partition, records) -> None:
        await asyncio.get_running_loop().run_in_executor(executor, runtime().handle_chunk,
                                                         partition.partition, records)

    batch_agent(app, source, name="forewarn.detect")(detect)

    @app.on_partitions_assigned.connect
    async def _assigned(app, assigned, **kwargs) -> None:  # noqa: ARG001 - Faust signal signature
        for tp in assigned:
            if tp.topic == source:
                runtime().assigned(tp.partition)

    @app.on_partitions_revoked.connect
    async def _revoked(app, revoked, **kwargs) -> None:  # noqa: ARG001 - Faust signal signature
        for tp in revoked:
            if tp.topic == source:
                runtime().revoked(tp.partition)

    if settings.idle_advance:
        @app.timer(max(0.5, min(5.0, settings.idle_advance_after_s / 4)), name="forewarn.detect.idle_advance")
        async def _idle_advance() -> None:
            loop = asyncio.get_running_loop()
            for tp in list(app.consumer.assignment()):
                if tp.topic == source:
                    await loop.run_in_executor(executor, runtime().advance_idle, tp.partition)

    install_worker_health(app, settings)

    @app.page("/metrics")
    async def metrics_page(web, request):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


app = create_app(Settings())
