"""Errors of the Kafka/Redis runtime."""

from __future__ import annotations

from schemas.errors import ForewarnError

__all__ = ["StreamsError", "KafkaUnavailable"]


class StreamsError(ForewarnError):
    """Something in the live runtime failed in a way Forewarn can explain."""


class KafkaUnavailable(StreamsError):
    """The Kafka cluster could not be reached or refused the request."""
