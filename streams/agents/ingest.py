"""The ingest agent: validate each usage event; dead-letter the bad ones with their reason.

Per-event Faust agent for the contract check. The volume-carrying detect agent
does the same validation on the batch path (issue 11); this agent is what a
deployment without detection, or a low-volume topic, runs.
"""

from __future__ import annotations

import faust

from schemas.event import EventError, parse_event
from streams.metrics import IngestMetrics
from streams.settings import Settings

__all__ = ["IngestAgent", "dlq_headers"]


def dlq_headers(reason: str, detail: str, source_topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """Headers of a dead-lettered record: why, and where the original sat."""
    return [
        ("reason", reason.encode()),
        ("detail", detail.encode()[:512]),
        ("source-topic", source_topic.encode()),
        ("source-partition", str(partition).encode()),
        ("source-offset", str(offset).encode()),
    ]


class IngestAgent:
    """Consumes ``usage-events``; valid ones are counted, malformed ones go to the DLQ unchanged."""

    def __init__(self, app: faust.App, settings: Settings, metrics: IngestMetrics):
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.source = app.topic(settings.topics.usage_events, value_serializer="raw", key_serializer="raw")
        self.dlq = app.topic(settings.topics.usage_events_dlq, value_serializer="raw", key_serializer="raw")

    def install(self) -> None:
        self.app.agent(self.source, name="forewarn.ingest")(self.run)

    async def run(self, stream) -> None:
        metrics = self.metrics
        async for event in stream.events():
            message = event.message
            metrics.consumed.inc()
            parsed = parse_event(message.value)
            if isinstance(parsed, EventError):
                await self.dlq.send(
                    key=message.key,
                    value=message.value,
                    headers=dlq_headers(parsed.reason, parsed.detail, message.topic, message.partition, message.offset),
                )
                metrics.invalid.labels(reason=parsed.reason).inc()
                metrics.dead_lettered.labels(topic=self.dlq.get_topic_name()).inc()
            else:
                metrics.valid.inc()
