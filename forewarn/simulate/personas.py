"""Who the simulated customers are: personas and plans.

Each persona is one story a customer-success lead would recognise, chosen so
that every seed trigger sees both sides of its boundary and the online models
see drop-offs that no rule names. The weights are the default population mix.

>>> round(sum(p.weight for p in PERSONAS.values()), 9)
1.0
>>> PERSONAS["new_late_adopter"].onboards_in_window
True
>>> PLANS["growth"].mrr_range_usd
(199, 499)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Persona", "Plan", "PERSONAS", "PLANS"]


@dataclass(frozen=True, slots=True)
class Persona:
    """A customer story; ``responsiveness`` scales the planted treatment effect for it.

    >>> PERSONAS["slow_decline"].responsiveness
    0.5
    """

    name: str
    weight: float
    story: str
    onboards_in_window: bool = False
    responsiveness: float = 1.0


@dataclass(frozen=True, slots=True)
class Plan:
    """A price plan: monthly revenue range, seats, and the share of seats active on a busy day.

    >>> PLANS["enterprise"].users_range
    (10, 30)
    """

    name: str
    weight: float
    mrr_range_usd: tuple[int, int]
    users_range: tuple[int, int]
    user_active_share: float


_PERSONA_LIST = [
    Persona("steady_power", 0.20, "active nearly every weekday for the whole window"),
    Persona("quiet_returns_soon", 0.04, "power user who goes silent and returns before 10 days"),
    Persona("quiet_returns_late", 0.04, "power user who goes silent for 10 days or more, then returns"),
    Persona("quiet_churns", 0.03, "power user who goes silent and then cancels", responsiveness=0.5),
    Persona("occasional", 0.35, "active a day or two a week; never a power user"),
    Persona("new_early_adopter", 0.06, "onboards in the window and uses a core feature within days",
            onboards_in_window=True),
    Persona("new_late_adopter", 0.05, "onboards in the window; first core feature around the 7-day mark",
            onboards_in_window=True),
    Persona("new_never_adopter", 0.03, "onboards in the window, never finds a core feature, may cancel",
            onboards_in_window=True),
    Persona("payment_recovers", 0.05, "one or two failed payments, then a success"),
    Persona("payment_failing", 0.04, "three or more failed payments within 30 days; recovers or cancels"),
    Persona("payment_spread", 0.03, "three failed payments spread over more than 30 days, then a success"),
    Persona("slow_decline", 0.08, "activity fades over weeks toward a cancellation, no single alarming event",
            responsiveness=0.5),
]

PERSONAS: dict[str, Persona] = {p.name: p for p in _PERSONA_LIST}

PLANS: dict[str, Plan] = {
    p.name: p
    for p in [
        Plan("starter", 0.6, (49, 99), (1, 3), 0.6),
        Plan("growth", 0.3, (199, 499), (3, 10), 0.45),
        Plan("enterprise", 0.1, (1000, 5000), (10, 30), 0.3),
    ]
}
