"""Success metrics of the interventions, as DESIGN.md states them per seed trigger.

The simulator plants its treatment effect on these metrics and records, for
every intervention, whether the metric was met and whether it would have been
met without the intervention, so a report can be checked against the truth.
A success window is ``[decided_at, decided_at + window)``.

>>> SUCCESS["payment_failing"].window_days, SUCCESS["payment_failing"].wanted
(7, 'payment.succeeded')
>>> success_metric("some_model_trigger").wanted
'activity'
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.timefmt import US_PER_DAY

__all__ = ["SuccessMetric", "SUCCESS", "success_metric"]


@dataclass(frozen=True, slots=True)
class SuccessMetric:
    """What counts as success after an intervention, and for how long we wait for it.

    ``wanted`` is ``core_feature`` (a ``feature.used`` of a core feature),
    ``payment.succeeded``, or ``activity`` (``session.started`` or ``feature.used``).

    >>> SuccessMetric("activity", 14).window_us // 86_400_000_000
    14
    """

    wanted: str
    window_days: int

    @property
    def window_us(self) -> int:
        return self.window_days * US_PER_DAY


SUCCESS: dict[str, SuccessMetric] = {
    "onboarding_stalled": SuccessMetric("core_feature", 7),
    "payment_failing": SuccessMetric("payment.succeeded", 7),
    "power_user_gone_quiet": SuccessMetric("activity", 14),
}

_ANY_OTHER = SuccessMetric("activity", 14)


def success_metric(trigger: str) -> SuccessMetric:
    """The metric of a trigger; triggers beyond the seed three (online models) count any activity."""
    return SUCCESS.get(trigger, _ANY_OTHER)
