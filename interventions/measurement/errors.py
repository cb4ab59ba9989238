"""The measurement's own errors, under Forewarn's one root."""

from __future__ import annotations

from schemas.errors import ForewarnError

__all__ = ["MeasurementError", "HistoryError", "WindowError"]


class MeasurementError(ForewarnError):
    """Root of the errors the outcome measurement and the impact report raise on purpose."""


class HistoryError(MeasurementError):
    """An input file of the report (decisions, receipts) cannot be read; the message names file and line."""


class WindowError(MeasurementError):
    """The report's window holds no time: its end is not after its start (the message names both)."""
