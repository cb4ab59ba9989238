"""A Faust app on the batch transport, configured from ``Settings``.

>>> from prometheus_client import CollectorRegistry
>>> s = Settings(kafka_bootstrap_servers="k1:9092,k2:9092", redis_url="redis://127.0.0.1:6379/0")
>>> faust_options(s)["broker"]
'batchkafka://k1:9092;batchkafka://k2:9092'
>>> app = batch_app(s, registry=CollectorRegistry())
>>> app.conf.consumer_max_fetch_size == s.consumer_max_fetch_size, app.conf.broker_max_poll_records
(True, 20000)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from streams.batching.runtime import SCHEME, attach_batching
from streams.settings import Settings

__all__ = ["faust_options", "batch_app"]


def faust_options(settings: Settings) -> dict[str, Any]:
    """Faust configuration for a worker on the batch transport: broker, security, fetch sizes, serializers."""
    hosts = [h.strip() for h in settings.kafka_bootstrap_servers.split(",") if h.strip()]
    return {
        "broker": ";".join(f"{SCHEME}://{h}" for h in hosts),
        "broker_credentials": settings.faust_broker_credentials(),
        # A 16 MB fetch keeps a poll from idling on small responses (with Faust's 1 MB
        # default each poll waits ~190 ms and a second worker adds nothing).
        "consumer_max_fetch_size": settings.consumer_max_fetch_size,
        "broker_max_poll_records": settings.max_poll_records,
        "consumer_auto_offset_reset": "earliest",
        "value_serializer": "raw",
        "key_serializer": "raw",
        "topic_partitions": settings.topics.partitions,
        "topic_replication_factor": settings.topics.replication_factor,
        "topic_allow_declare": False,
        "store": "memory://",
        # Faust makes an empty `<app id>-data/v1/tables` tree even with the memory store;
        # keep it out of the working directory (nothing in it is read back).
        "datadir": str(Path(tempfile.gettempdir()) / "forewarn-faust-{conf.name}-data"),
        # The batch path keeps state in Redis, not in Faust tables. Without tables or
        # standbys Faust uses plain round-robin assignment; its own table-aware
        # assignor left a fourth worker with nothing in a 6-partition group (measured).
        "table_standby_replicas": 0,
        "web_port": settings.worker_web_port,
        # Faust listens on web_bind (its default: every interface); web_host only names the node in
        # canonical_url (table routing, which Forewarn does not use).
        "web_bind": settings.worker_web_host,
        "web_host": "127.0.0.1",
    }


def batch_app(settings: Settings, *, app_id: str | None = None, registry: CollectorRegistry | None = None,
              revoke_timeout_s: float = 10.0, **overrides: Any) -> faust.App:
    """A ``faust.App`` on ``batchkafka://`` with a batch runtime attached; ``overrides`` are Faust settings."""
    app = faust.App(app_id or settings.app_id, **{**faust_options(settings), **overrides})
    attach_batching(app, max_inflight_bytes=settings.max_inflight_bytes,
                    registry=registry if registry is not None else CollectorRegistry(),
                    revoke_timeout_s=revoke_timeout_s, coalesce_records=settings.max_poll_records)
    return app
