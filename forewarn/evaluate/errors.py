"""Errors of the evaluation commands."""

from __future__ import annotations

from schemas.errors import ForewarnError

__all__ = ["EvaluationError"]


class EvaluationError(ForewarnError):
    """The evaluation cannot run on what it was given; the message says which file and what to do."""
