"""The ``batchkafka://`` Faust transport: Faust's aiokafka transport with the batch consumer.

Registered in the ``faust.transports`` entry-point group (``pyproject.toml``),
which is how Faust resolves a broker URL's scheme to a transport — no patching
of Faust at import. The producer side is Faust's own, unchanged.

>>> from faust.transport import by_url
>>> by_url("batchkafka://127.0.0.1:9092") is Transport
True
"""

from __future__ import annotations

from typing import ClassVar

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.transports import ConsumerT

from streams.batching.consumer import BatchConsumer

__all__ = ["Transport"]


class Transport(faust_aiokafka.Transport):
    """Kafka through aiokafka, consumed chunk by chunk for topics with a batch agent."""

    Consumer: ClassVar[type[ConsumerT]] = BatchConsumer
