"""Every knob of a simulation run, checked once when the run is configured."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from forewarn.simulate.errors import SimulationConfigError
from forewarn.simulate.personas import PERSONAS
from forewarn.simulate.reference import DEFAULT_CORE_FEATURES
from forewarn.simulate.timeline import END_US, YEARS, parse_start_date
from schemas.timefmt import US_PER_DAY

__all__ = ["NoiseOptions", "SimulationConfig", "DEFAULT_LIFTS", "ANY_TRIGGER"]

_FEATURE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

#: Key of ``SimulationConfig.lifts`` for triggers not named there (e.g. online-model triggers).
ANY_TRIGGER = "*"

#: Planted effect per trigger: the chance that an intervention rescues an account that
#: would otherwise have missed the trigger's success metric.
DEFAULT_LIFTS: dict[str, float] = {
    "onboarding_stalled": 0.30,
    "payment_failing": 0.25,
    "power_user_gone_quiet": 0.20,
    ANY_TRIGGER: 0.10,
}


@dataclass(frozen=True)
class NoiseOptions:
    """How imperfect the delivery is; every share is of the valid events unless said otherwise.

    ``duplicate_share``: events delivered a second time (same ``event_id``).
    ``out_of_order_share``: events whose delivery is delayed by up to the lateness,
    so that later events overtake them; never by the lateness or more.
    ``malformed_share``: share of *all output lines* that break the contract.

    >>> NoiseOptions(duplicate_share=0.01).out_of_order_share
    0.02
    >>> NoiseOptions(malformed_share=0.7)
    Traceback (most recent call last):
    ...
    forewarn.simulate.errors.SimulationConfigError: malformed_share=0.7: keep it below 0.5 so most lines are events
    """

    duplicate_share: float = 0.005
    out_of_order_share: float = 0.02
    malformed_share: float = 0.001
    lateness_seconds: int = 300

    def __post_init__(self) -> None:
        for name in ("duplicate_share", "out_of_order_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SimulationConfigError(f"{name}={value}: a share is between 0 and 1")
        if not 0.0 <= self.malformed_share < 0.5:
            raise SimulationConfigError(
                f"malformed_share={self.malformed_share}: keep it below 0.5 so most lines are events"
            )
        if self.lateness_seconds < 2 and self.out_of_order_share > 0:
            raise SimulationConfigError(
                f"lateness_seconds={self.lateness_seconds}: out-of-order delivery needs a lateness of "
                "at least 2 seconds; raise it or set out_of_order_share=0"
            )


@dataclass(frozen=True)
class SimulationConfig:
    """One simulation: population size, calendar, seed, noise and planted effects.

    >>> cfg = SimulationConfig(accounts=10, days=5, seed=3)
    >>> cfg.noise.lateness_seconds, cfg.lift_for("payment_failing"), cfg.lift_for("model_drop")
    (300, 0.25, 0.1)
    >>> SimulationConfig(days=0)
    Traceback (most recent call last):
    ...
    forewarn.simulate.errors.SimulationConfigError: days=0: simulate at least 1 day
    >>> SimulationConfig(start="8999-12-31", days=1).days  # the last day of the contract's years
    1
    """

    accounts: int = 1000
    days: int = 30
    seed: int = 0
    start: str = "2026-01-01"
    noise: NoiseOptions = field(default_factory=NoiseOptions)
    lifts: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_LIFTS))
    persona_weights: Mapping[str, float] | None = None
    core_features: tuple[str, ...] = DEFAULT_CORE_FEATURES
    inbound_resolution_median_hours: float = 20.0
    proactive_resolution_median_hours: float = 2.5

    def __post_init__(self) -> None:
        if self.accounts < 1:
            raise SimulationConfigError(f"accounts={self.accounts}: simulate at least 1 account")
        if self.days < 1:
            raise SimulationConfigError(f"days={self.days}: simulate at least 1 day")
        if parse_start_date(self.start) + self.days * US_PER_DAY > END_US:
            raise SimulationConfigError(
                f"days={self.days} from {self.start}: the run would go past 8999-12-31, and event times "
                f"keep to the UTC years {YEARS}; start earlier or simulate fewer days"
            )
        for trigger, lift in self.lifts.items():
            if not 0.0 <= lift <= 1.0:
                raise SimulationConfigError(f"lift {trigger}={lift}: a lift is a probability between 0 and 1")
        if self.persona_weights is not None:
            unknown = sorted(set(self.persona_weights) - set(PERSONAS))
            if unknown:
                raise SimulationConfigError(
                    f"unknown persona(s) {', '.join(unknown)}; known: {', '.join(PERSONAS)}"
                )
            if sum(self.persona_weights.values()) <= 0 or min(self.persona_weights.values()) < 0:
                raise SimulationConfigError("persona_weights: weights are >= 0 and at least one is > 0")
        if not self.core_features or len(set(self.core_features)) != len(self.core_features):
            raise SimulationConfigError(
                f"core_features={self.core_features!r}: name one or more distinct core features"
            )
        for name in self.core_features:
            if not isinstance(name, str) or not _FEATURE_NAME.fullmatch(name):
                raise SimulationConfigError(
                    f"core feature {name!r}: write feature names in lower case, e.g. reports or audit_log"
                )
        for name in ("inbound_resolution_median_hours", "proactive_resolution_median_hours"):
            if getattr(self, name) <= 0:
                raise SimulationConfigError(f"{name}={getattr(self, name)}: a resolution time is > 0 hours")

    def lift_for(self, trigger: str) -> float:
        """The planted lift of an intervention answering ``trigger``."""
        return self.lifts.get(trigger, self.lifts.get(ANY_TRIGGER, 0.0))

    def weights(self) -> dict[str, float]:
        """Population mix: the configured persona weights, or every persona's default."""
        if self.persona_weights is not None:
            return dict(self.persona_weights)
        return {name: p.weight for name, p in PERSONAS.items()}
