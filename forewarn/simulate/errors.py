"""Errors of the simulator, all under Forewarn's one root exception."""

from __future__ import annotations

from schemas.errors import ForewarnError

__all__ = ["SimulationError", "SimulationConfigError", "CommandError"]


class SimulationError(ForewarnError):
    """Something the simulator was asked to do cannot be done."""


class SimulationConfigError(SimulationError):
    """A simulation option is out of range; the message names the option, the value and the fix."""


class CommandError(SimulationError):
    """An intervention command fed back to the simulator breaks the command shape."""
