"""The contract of a drop-off scorer: it scores account-days, it does not decide.

Once a UTC day closes, the partition's :class:`~detectors.online.detector.DropOffDetector`
hands every known account's day to the scorer as one feature mapping ``x``:
the account's profile with the day folded in (``active_long``,
``active_short``, ``days_since_active``... see
:data:`detectors.online.profile.FEATURE_NAMES`) plus the day's own counts
(``day_active``, ``day_sessions``, ``day_tickets``...). The long-horizon
baseline moves little in one day (half-life 56 days), so the day is judged
against a baseline it barely shifted. The detector then

1. calls ``score_one(x, memory)`` for every account of the day, in account
   order — pure: it changes nothing, so every decision of a day is taken
   against the model as it stood when the day began;
2. lets the policy decide (a learned threshold, warm-ups, one open episode
   per account) — the scorer never knows;
3. calls ``learn_one(x, memory)`` for every account that is not in an open
   drop-off episode (anomalies do not teach the model that they are normal),
   in account order, so the result does not depend on which worker runs it.

``memory`` is the account's own list of floats, stored with the account
(``new_memory()`` is its blank value; ``forget`` clears it when an episode
closes). A scorer may also keep partition-wide state in ``self`` (a River
model); that is checkpointed with the partition.

Constructor arguments are the configuration and are stored as given (River's
convention). ``tests/detectors/online/test_online_scorer_contract.py`` checks every
registered scorer against this contract.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = ["DropScorer"]


class DropScorer(ABC):
    """Scores one account-day: the higher, the stronger the evidence that usage dropped."""

    #: The name used in config (``detector:``) and in firing evidence.
    name: ClassVar[str]

    #: Days of history an account needs before its scores mean anything; earlier days score 0.
    min_days: int

    #: True when ``learn_one`` has nothing to learn: the account's profile is the whole model.
    stateless: ClassVar[bool] = False

    def new_memory(self) -> list[float]:
        """The per-account memory of an account the scorer has not seen."""
        return []

    @abstractmethod
    def score_one(self, x: Mapping[str, float], memory: list[float]) -> float:
        """The day's score; must not change ``memory`` or ``self``."""

    @abstractmethod
    def learn_one(self, x: Mapping[str, float], memory: list[float]) -> None:
        """Learn from the day: update ``memory`` in place and any partition-wide state."""

    def forget(self, memory: list[float]) -> None:
        """Clear the account's evidence (its drop-off episode closed: usage recovered)."""
        memory[:] = self.new_memory()

    @abstractmethod
    def baseline(self, x: Mapping[str, float]) -> dict[str, Any]:
        """What the score compared the day with, for a firing's evidence (JSON-ready)."""

    def params(self) -> dict[str, Any]:
        """The configuration (constructor arguments), for checkpoints and reports."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
