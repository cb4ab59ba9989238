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
from streams.agents.policy import PolicyRuntime
from streams.batching.agent import batch_agent
from streams.batching.app import batch_app
from streams.health import install_worker_health
from streams.settings import Settings

__all__ = ["create_app", "app"]

log = logging.getLogger("forewarn.app")


class Runtimes:
    """The detect and policy runtimes of one worker, built on first use inside the running worker
    (reading the config and opening clients are not import-time work)."""

    def __init__(self, settings: Settings, registry: CollectorRegistry):
        self.settings = settings
        self.registry = registry
        self._detect: DetectRuntime | None = None
        self._policy: PolicyRuntime | None = None
        self._config = None
        self._client = None

    def _shared(self):
        if self._config is None:
            import redis

            from streams.config import effective_config

            self._config = effective_config(self.settings)
            self._client = redis.Redis.from_url(self.settings.redis_url.get_secret_value(),
                                                **self.settings.redis_kwargs())
        return self._config, self._client

    @property
    def detect(self) -> DetectRuntime:
        if self._detect is None:
            from detectors.engine import Engine
            from streams.stores.detector_redis import (
                RedisDetectorStore,
                detect_namespace,
            )

            config, client = self._shared()
            s = self.settings
            lateness_us = config.engine.allowed_lateness_us
            engine = Engine.from_config(config)
            namespace = detect_namespace(s.topics.usage_events)
            store = RedisDetectorStore(client, engine.codec, namespace=namespace)
            dropoff = self._dropoff(config, client, namespace, lateness_us, rules_applied=store.applied_offset)
            names = [r.name for r in engine.rules] + ([] if dropoff is None else dropoff.names)
            metrics = DetectMetrics(self.registry, names)
            self._detect = DetectRuntime(s, engine, store, metrics, dropoff=dropoff)
        return self._detect

    def _dropoff(self, config, client, namespace: str, lateness_us: int, rules_applied=None):
        """The live usage_drop models, or None when the config has no usage_drop trigger."""
        from detectors.online import CheckpointCodec, UsageDrop
        from streams.agents.dropoff import DropOffMetrics, DropOffRuntime
        from streams.stores.dropoff_redis import RedisDropOffStore

        specs = [t.rule for t in config.triggers.values() if isinstance(t.rule, UsageDrop)]
        if not specs:
            return None
        key = self.settings.model_checkpoint_key
        codec = None if key is None else CheckpointCodec(key.get_secret_value().encode())
        retire_ms = max(s.build(allowed_lateness_us=lateness_us).retire_after_days for s in specs) * 86_400_000
        store = RedisDropOffStore(client, namespace, accounts_ttl_ms=retire_ms)
        return DropOffRuntime(specs, store, codec, DropOffMetrics(self.registry, [s.name for s in specs]),
                              allowed_lateness_us=lateness_us, rules_applied=rules_applied)

    @property
    def policy(self) -> PolicyRuntime:
        if self._policy is None:
            from interventions.policy import PolicyEngine
            from streams.dispatcher.metrics import DecisionMetrics
            from streams.stores.policy_redis import RedisPolicyStore

            config, client = self._shared()
            s = self.settings
            store = RedisPolicyStore(client, f"pol:{s.topics.trigger_firings}",
                                     ttl_ms=config.engine.state_ttl_us // 1000)
            engine = PolicyEngine.from_config(config, store)
            # engine.state_ttl is the detector's memory; the policy's state must outlive its own horizons
            # (dedupe, cooldowns, the cap), or an expired account forgets its contacts and is contacted again.
            store.ttl_ms = max(store.ttl_ms, engine.state_retention_us // 1000)
            self._policy = PolicyRuntime(s, engine, store, DecisionMetrics(self.registry))
        return self._policy


def has_backlog(view: tuple[int | None, int | None, int | None] | None) -> bool:
    """Whether a partition's last fetch saw records it has not applied yet, from the consumer's
    ``offset_view`` entry (log end, committed, highest acknowledged).

    A partition that sends nothing is idle and its watermark may follow the clock; one that is behind
    (a stalled fetch, a full in-flight budget) is not: advancing it would make its backlog late. One
    offset short is not a backlog: a transaction's commit marker (``forewarn dlq replay`` publishes in
    transactions) can end a partition and is never delivered as a record.

    >>> has_backlog((100, 40, 99)), has_backlog((100, 40, 60)), has_backlog((100, 100, None)), has_backlog(None)
    (False, True, False, False)
    >>> has_backlog((101, 40, 99))  # a trailing commit marker
    False
    """
    if view is None or view[0] is None:
        return False
    end, committed, acked = view
    done = max(acked + 1 if acked is not None else 0, committed or 0)
    return end - done > 1


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """A Faust app wired to ``settings``: broker, credentials, serializers, agents, health, metrics."""
    registry = registry or CollectorRegistry()
    app = batch_app(settings, registry=registry)
    app.forewarn_settings = settings
    app.forewarn_registry = registry
    source = settings.topics.usage_events
    firings = settings.topics.trigger_firings
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="forewarn-worker")
    runtimes = Runtimes(settings, registry)

    async def detect(partition, records) -> None:
        await asyncio.get_running_loop().run_in_executor(executor, runtimes.detect.handle_chunk,
                                                         partition.partition, records)

    async def decide(partition, records) -> None:
        await asyncio.get_running_loop().run_in_executor(executor, runtimes.policy.handle_chunk,
                                                         partition.partition, records)

    batch_agent(app, source, name="forewarn.detect")(detect)
    batch_agent(app, firings, name="forewarn.policy")(decide)

    @app.on_partitions_assigned.connect
    async def _assigned(app, assigned, **kwargs) -> None:  # noqa: ARG001 - Faust signal signature
        for tp in assigned:
            if tp.topic == source:
                runtimes.detect.assigned(tp.partition)
            elif tp.topic == firings:
                runtimes.policy.assigned(tp.partition)

    @app.on_partitions_revoked.connect
    async def _revoked(app, revoked, **kwargs) -> None:  # noqa: ARG001 - Faust signal signature
        for tp in revoked:
            if tp.topic == source:
                runtimes.detect.revoked(tp.partition)
            elif tp.topic == firings:
                runtimes.policy.revoked(tp.partition)

    if settings.idle_advance:
        @app.timer(max(0.5, min(5.0, settings.idle_advance_after_s / 4)), name="forewarn.detect.idle_advance")
        async def _idle_advance() -> None:
            loop = asyncio.get_running_loop()
            view = app.consumer.offset_view() if hasattr(app.consumer, "offset_view") else {}
            for tp in list(app.consumer.assignment()):
                if tp.topic == source and not has_backlog(view.get((tp.topic, tp.partition))):
                    await loop.run_in_executor(executor, runtimes.detect.advance_idle, tp.partition)

    install_worker_health(app, settings)

    @app.page("/metrics")
    async def metrics_page(web, request):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


app = create_app(Settings())
