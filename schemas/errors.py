"""The one root of every exception Forewarn raises on purpose."""

from __future__ import annotations

__all__ = ["ForewarnError"]


class ForewarnError(Exception):
    """Root of Forewarn's own errors; a message names the object, the value and the fix."""
