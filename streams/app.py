"""The Faust application of Forewarn workers.

``create_app(settings)`` builds the app with its agents; nothing connects until a
worker starts. The module-level ``app`` exists only because ``faust -A streams.app
worker`` looks for one: it is built from the environment at import, which is the
one import-time construction we allow, and it opens no connection.
"""

from __future__ import annotations

import faust
from prometheus_client import CollectorRegistry

from streams.agents.ingest import IngestAgent
from streams.health import install_worker_health
from streams.metrics import IngestMetrics
from streams.settings import Settings

__all__ = ["create_app", "app"]


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """A Faust app wired to ``settings``: broker, credentials, serializers and agents."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=settings.faust_broker_credentials(),
        value_serializer="raw",
        key_serializer="raw",
        web_port=settings.worker_web_port,
        web_host=settings.worker_web_host,
        consumer_max_fetch_size=settings.consumer_max_fetch_size,
        topic_partitions=settings.topics.partitions,
        topic_replication_factor=settings.topics.replication_factor,
        topic_allow_declare=False,
        store="memory://",
    )
    registry = registry or CollectorRegistry()
    app.forewarn_settings = settings
    app.forewarn_registry = registry
    metrics = IngestMetrics(registry)
    IngestAgent(app, settings, metrics).install()
    install_worker_health(app, settings)

    @app.page("/metrics")
    async def metrics_page(web, request):
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


app = create_app(Settings())
