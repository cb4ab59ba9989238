"""The online models' errors, under Forewarn's one root exception."""

from __future__ import annotations

from schemas.errors import ForewarnError

__all__ = ["OnlineModelError", "CheckpointRefused"]


class OnlineModelError(ForewarnError):
    """A drop-off model was configured or used wrongly; the message names the setting and the fix."""


class CheckpointRefused(OnlineModelError):
    """Checkpoint bytes that will not be loaded: tampered, truncated, signed with another key,
    or written by another version. ``reason`` is a short label for metrics (never an account id)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
