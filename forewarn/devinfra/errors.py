"""Errors of the local infrastructure launcher."""

from __future__ import annotations

from schemas.errors import ForewarnError

__all__ = ["DevInfraError"]


class DevInfraError(ForewarnError):
    """Local Kafka or Redis could not be prepared, started or reached."""
