"""Drawing the population: how many of each persona, and each account's natural plan.

An ``AccountPlan`` is what the customer would do if nobody intervened: when it
onboards and first uses a core feature, when it goes quiet and for how long,
when its payments fail, when it declines and cancels. Plans put some accounts
exactly on each trigger's boundary (a first core feature at 6 d 23 h 59 m or at
exactly 7 d; three failures 30 d minus a second apart or exactly 30 d apart; a
return 10 d minus a second or exactly 10 d after the last activity), so the
stream exercises the boundaries the engine must get right.

>>> from random import Random
>>> from forewarn.simulate.timeline import Calendar
>>> cal = Calendar("2026-01-01", 60)
>>> plan = draw_plan("acct-1", "new_late_adopter", Random(1), cal)
>>> plan.onboarded_at is not None and plan.adopts_at > plan.onboarded_at
True
>>> allocate_personas(10, {"occasional": 0.5, "steady_power": 0.3, "slow_decline": 0.2}, Random(0)).count("occasional")
5
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from forewarn.simulate.personas import PLANS
from forewarn.simulate.timeline import Calendar
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, US_PER_SECOND

__all__ = ["AccountPlan", "allocate_personas", "draw_plan", "POWER_LEVELS", "OCCASIONAL_LEVELS"]

#: Chance of being active on a (weekday, weekend day).
POWER_LEVELS = (0.93, 0.60)
OCCASIONAL_LEVELS = (0.22, 0.08)
DECLINE_LEVELS = (0.80, 0.45)
BILLING_CYCLE_DAYS = 30


@dataclass(frozen=True, slots=True)
class AccountPlan:
    """An account's natural course; times are epoch microseconds, days are simulated day indexes.

    >>> from random import Random
    >>> from forewarn.simulate.timeline import Calendar
    >>> plan = draw_plan("acct-7", "payment_failing", Random(3), Calendar("2026-01-01", 90))
    >>> [kind for _, kind in plan.payment_trouble][:3]
    ['payment.failed', 'payment.failed', 'payment.failed']
    """

    account_id: str
    persona: str
    plan: str
    mrr_usd: int
    users: int
    user_active_share: float
    weekday_level: float
    weekend_level: float
    billing_offset: int
    billing_second: int
    onboarded_at: int | None = None
    adopts_at: int | None = None
    quiet_day: int | None = None
    quiet_gap_us: int | None = None
    churn_after_quiet_us: int | None = None
    decline_day: int | None = None
    churn_at: int | None = None
    payment_trouble: tuple[tuple[int, str], ...] = ()
    trouble_ends_at: int | None = None

    @property
    def onboards_in_window(self) -> bool:
        return self.onboarded_at is not None


def allocate_personas(accounts: int, weights: dict[str, float], rng: Random) -> list[str]:
    """Exactly proportional persona counts (largest remainder), in a seeded random order."""
    total = sum(weights.values())
    exact = {name: accounts * w / total for name, w in weights.items()}
    counts = {name: int(x) for name, x in exact.items()}
    short = accounts - sum(counts.values())
    for name in sorted(exact, key=lambda n: (counts[n] - exact[n], n))[:short]:
        counts[name] += 1
    names = [name for name in weights for _ in range(counts[name])]
    rng.shuffle(names)
    return names


def _uniform_us(rng: Random, lo_us: int, hi_us: int) -> int:
    """A whole-second time between two whole-second bounds, inclusive."""
    return rng.randint(lo_us // US_PER_SECOND, hi_us // US_PER_SECOND) * US_PER_SECOND


def _pick_plan(rng: Random) -> str:
    x = rng.random()
    for plan in PLANS.values():
        x -= plan.weight
        if x < 0:
            return plan.name
    return "starter"


def _levels(rng: Random, power_share: float) -> tuple[float, float]:
    return POWER_LEVELS if rng.random() < power_share else OCCASIONAL_LEVELS


def draw_plan(account_id: str, persona: str, rng: Random, cal: Calendar) -> AccountPlan:
    """Draw one account's natural plan for a persona from its own random stream."""
    tier = PLANS[_pick_plan(rng)]
    base = dict(
        account_id=account_id,
        persona=persona,
        plan=tier.name,
        mrr_usd=rng.randint(*tier.mrr_range_usd),
        users=rng.randint(*tier.users_range),
        user_active_share=tier.user_active_share,
        billing_offset=rng.randint(0, BILLING_CYCLE_DAYS - 1),
        billing_second=rng.randint(3600, 6 * 3600),
    )
    days = cal.days
    levels = OCCASIONAL_LEVELS
    extra: dict = {}
    if persona == "steady_power":
        levels = POWER_LEVELS
    elif persona.startswith("quiet_"):
        levels = POWER_LEVELS
        extra["quiet_day"] = rng.randint(21, max(21, days - 12))
        if persona == "quiet_returns_soon":
            boundary = rng.random() < 0.15
            extra["quiet_gap_us"] = (
                10 * US_PER_DAY - US_PER_SECOND if boundary else _uniform_us(rng, 3 * US_PER_DAY, 9 * US_PER_DAY + 12 * US_PER_HOUR)
            )
        elif persona == "quiet_returns_late":
            boundary = rng.random() < 0.15
            extra["quiet_gap_us"] = (
                10 * US_PER_DAY if boundary else _uniform_us(rng, 10 * US_PER_DAY + 12 * US_PER_HOUR, 30 * US_PER_DAY)
            )
        else:
            extra["churn_after_quiet_us"] = _uniform_us(rng, 15 * US_PER_DAY, 40 * US_PER_DAY)
    elif persona.startswith("new_"):
        onboarded = cal.day_start(rng.randint(0, days - 1)) + _uniform_us(rng, 8 * US_PER_HOUR, 18 * US_PER_HOUR)
        extra["onboarded_at"] = onboarded
        if persona == "new_early_adopter":
            levels = _levels(rng, 0.5)
            extra["adopts_at"] = onboarded + _uniform_us(rng, US_PER_HOUR, 4 * US_PER_DAY)
        elif persona == "new_late_adopter":
            levels = _levels(rng, 0.3)
            x = rng.random()
            if x < 0.2:
                extra["adopts_at"] = onboarded + 7 * US_PER_DAY - 60 * US_PER_SECOND
            elif x < 0.4:
                extra["adopts_at"] = onboarded + 7 * US_PER_DAY
            else:
                extra["adopts_at"] = onboarded + _uniform_us(rng, 5 * US_PER_DAY, 12 * US_PER_DAY)
        else:
            if rng.random() < 0.5:
                extra["churn_at"] = onboarded + _uniform_us(rng, 25 * US_PER_DAY, 60 * US_PER_DAY)
    elif persona.startswith("payment_"):
        levels = _levels(rng, 0.4)
        extra.update(_payment_trouble(persona, rng, cal, base["billing_offset"], base["billing_second"]))
    elif persona == "slow_decline":
        levels = DECLINE_LEVELS
        decline_day = rng.randint(min(10, days - 1), max(10, days - 20))
        extra["decline_day"] = decline_day
        extra["churn_at"] = cal.day_start(decline_day + rng.randint(25, 60)) + _uniform_us(
            rng, 9 * US_PER_HOUR, 17 * US_PER_HOUR
        )
    return AccountPlan(weekday_level=levels[0], weekend_level=levels[1], **base, **extra)


def _payment_trouble(persona: str, rng: Random, cal: Calendar, offset: int, second: int) -> dict:
    """Failed payments starting on one billing day, and how the trouble ends."""
    earliest = rng.randint(0, max(0, cal.days - 35))
    bill_day = earliest + (offset - earliest) % BILLING_CYCLE_DAYS
    first = cal.day_start(bill_day) + second * US_PER_SECOND
    day = US_PER_DAY
    out: dict = {}
    if persona == "payment_recovers":
        fails = [first]
        if rng.random() < 0.5:
            fails.append(first + _uniform_us(rng, 2 * day, 5 * day))
        recovered = fails[-1] + _uniform_us(rng, day, 4 * day)
        events = [(t, "payment.failed") for t in fails] + [(recovered, "payment.succeeded")]
        out["trouble_ends_at"] = recovered
    elif persona == "payment_failing":
        if rng.random() < 0.25:
            fails = [first, first + 15 * day, first + 30 * day - US_PER_SECOND]
        else:
            g1 = _uniform_us(rng, 2 * day, 6 * day)
            fails = [first, first + g1, first + g1 + _uniform_us(rng, 2 * day, 6 * day)]
        third = fails[-1]
        if rng.random() < 0.4:
            recovered = third + _uniform_us(rng, day, 12 * day)
            events = [(t, "payment.failed") for t in fails] + [(recovered, "payment.succeeded")]
            out["trouble_ends_at"] = recovered
        else:
            canceled = third + _uniform_us(rng, 12 * day, 25 * day)
            fails += [t for t in (third + 5 * day, third + 10 * day) if t < canceled]
            events = [(t, "payment.failed") for t in fails]
            out["trouble_ends_at"] = canceled
            out["churn_at"] = canceled
    else:  # payment_spread: any three consecutive failures span 30 days or more
        g1 = _uniform_us(rng, 12 * day, 18 * day)
        span = 30 * day if rng.random() < 0.25 else _uniform_us(rng, 30 * day + US_PER_HOUR, 33 * day)
        fails = [first, first + g1, first + span]
        recovered = fails[-1] + _uniform_us(rng, day, 5 * day)
        events = [(t, "payment.failed") for t in fails] + [(recovered, "payment.succeeded")]
        out["trouble_ends_at"] = recovered
    out["payment_trouble"] = tuple(events)
    return out
