"""The ``kafka`` channel's configuration: forward commands to a topic of the user's.

::

    channels:
      outreach_topic:
        kind: kafka
        topic: customer-outreach      # key = account_id, value = the command JSON

The sending half needs a Kafka client, so it lives in the runtime
(``streams/dispatcher/kafka_channel.py``), which registers it under this kind;
this package only reads and checks the entry.

>>> from schemas.config_yaml import load_yaml_text
>>> KafkaTopicChannel.parse_options(load_yaml_text("{topic: customer-outreach}").as_map())
{'topic': 'customer-outreach'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from interventions.channels.base import Channel, ChannelSpec
from interventions.channels.ssrf import TargetGuard
from interventions.errors import InterventionError
from schemas.command import InterventionCommand
from schemas.config_yaml import MapNode

__all__ = ["KafkaTopicChannel", "TOPIC_RE"]

TOPIC_RE = re.compile(r"[A-Za-z0-9._-]{1,249}")


class KafkaTopicChannel(Channel):
    """The configuration half of the ``kafka`` channel (``build`` belongs to the runtime)."""

    kind: ClassVar[str] = "kafka"
    keys: ClassVar[tuple[str, ...]] = ("topic",)
    required: ClassVar[Mapping[str, str]] = {"topic": "customer-outreach"}

    @classmethod
    def parse_options(cls, node: MapNode) -> dict[str, Any]:
        return {"topic": node.require("topic").as_str(pattern=TOPIC_RE, what="topic name", example="customer-outreach")}

    @classmethod
    def build(cls, spec: ChannelSpec, secret: str | None, guard: TargetGuard) -> Channel:
        raise InterventionError(f"channel {spec.name!r} of kind kafka is built by the dispatcher runtime "
                                "(streams.dispatcher.kafka_channel), which needs a Kafka client")

    def deliver(self, command: InterventionCommand, body: bytes) -> str:  # pragma: no cover - never built
        raise NotImplementedError
