"""What treated accounts did, and what they would have done without the intervention: the ROI's truth.

An impact report's ROI rests on two treated-versus-control differences: 90-day
retention and inbound tickets after a decision. The simulator can state both
exactly, because it can replay an account without an intervention. With
``Simulation(config, keep_twins=True)`` every applied command keeps the
account's *twin* forked just before it (same state, same random stream, the
intervention not applied, nor any later one); ``Simulation.follow`` then lives
every treated account and every twin on past the last simulated day, off the
record, until each command is followed for the horizon asked for. Nothing here
changes the events the simulation delivered.

>>> DAY = 86_400_000_000
>>> kept = Course(canceled_at=None, inbound_tickets=(2 * DAY,), until=100 * DAY)
>>> lost = Course(canceled_at=40 * DAY, inbound_tickets=(2 * DAY, 5 * DAY, 9 * DAY), until=100 * DAY)
>>> kept.retained(start=DAY, days=90), lost.retained(start=DAY, days=90), lost.retained(start=DAY, days=30)
(True, False, True)
>>> kept.tickets(DAY, 31 * DAY), lost.tickets(DAY, 31 * DAY)
(1, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from forewarn.simulate.errors import SimulationError
from schemas.timefmt import US_PER_DAY, format_rfc3339

__all__ = ["Course", "Counterfactuals"]


@dataclass(frozen=True, slots=True)
class Course:
    """One account's course as observed until ``until`` (µs): its cancellation and its inbound tickets."""

    canceled_at: int | None
    inbound_tickets: tuple[int, ...]
    until: int

    def _check(self, end: int) -> None:
        if end > self.until:
            raise SimulationError(f"asked about the course until {format_rfc3339(end)} but it was followed only "
                                  f"until {format_rfc3339(self.until)}; call Simulation.follow with a longer horizon")

    def retained(self, start: int, days: float) -> bool:
        """Not canceled in ``[start, start + days)``."""
        end = start + int(days * US_PER_DAY)
        self._check(end)
        return self.canceled_at is None or not start <= self.canceled_at < end

    def tickets(self, start: int, end: int) -> int:
        """Inbound tickets opened in ``[start, end)``."""
        self._check(end)
        return sum(1 for ts in self.inbound_tickets if start <= ts < end)


@dataclass(frozen=True, slots=True)
class Counterfactuals:
    """The factual course of every treated account and the untreated course of every treated command.

    ``untreated[command_id]`` is the account as it would have gone had that
    command (and every later one) not been applied; ``applied[command_id]`` is
    when it reached the customer.
    """

    factual: Mapping[str, Course]
    untreated: Mapping[str, Course]
    applied: Mapping[str, int]
