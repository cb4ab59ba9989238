"""One simulated customer living day by day: its events, its frustrations, its answers to outreach.

An account follows its natural ``AccountPlan`` with its own random stream, so
an account nobody contacts behaves identically whatever happens to the others.
An intervention may *rescue* it at a response time: the response event itself
(a core feature used, a payment that succeeds, a return visit) and the end of
whatever was going wrong — a stalled onboarding, payment trouble, a silence, a
decline, a pending cancellation. Nothing else about its future changes.

Events leave already serialised, as tuples ``(ts, key, line, type)``; the
simulation adds delivery noise and puts them in arrival order.
"""

from __future__ import annotations

import heapq
import math
from array import array
from random import Random

from forewarn.simulate.facts import FactCodes
from forewarn.simulate.lines import LineFormat
from forewarn.simulate.population import BILLING_CYCLE_DAYS, AccountPlan
from forewarn.simulate.timeline import Calendar
from schemas.timefmt import US_PER_DAY, US_PER_HOUR, US_PER_SECOND

__all__ = ["World", "SimAccount", "RawEvent"]

RawEvent = tuple  # (ts, key, line, type)

PRE_ADOPTION_LEVELS = (0.70, 0.30)
CORE_SHARE = 0.4  # of feature uses, once a core feature is part of the account's habits
BASE_TICKET_CHANCE = 0.004
STALLED_ONBOARDING_TICKET_CHANCE = 0.05
PAYMENT_TROUBLE_TICKET_CHANCE = 0.08
DECLINE_TICKET_CHANCE = 0.015
MAX_TICKET_CHANCE = (BASE_TICKET_CHANCE + STALLED_ONBOARDING_TICKET_CHANCE + PAYMENT_TROUBLE_TICKET_CHANCE
                     + DECLINE_TICKET_CHANCE)
TICKET_TIME_SIGMA = 0.9
_SESSION = FactCodes.SESSION
_DAY_S = 86_400


class World:
    """What every account shares and never changes: calendar, features, ticket timing.

    >>> World(Calendar("2026-01-01", 1), ("reports",)).feature_props["reports"]
    {'feature': 'reports'}
    """

    def __init__(self, calendar: Calendar, core_features: tuple[str, ...],
                 inbound_resolution_median_hours: float = 20.0,
                 proactive_resolution_median_hours: float = 2.5):
        self.calendar = calendar
        self.codes = FactCodes(core_features)
        self.core_features = self.codes.core_features
        self.non_core_features = self.codes.non_core_features
        # Shared, never-mutated property dicts: serialisation reads them millions of times.
        self.feature_props = {f: {"feature": f} for f in self.codes.features}
        self.feature_codes = {f: self.codes.feature_code(f) for f in self.codes.features}
        self.lines = LineFormat(calendar, self.codes.features)
        # (end of a feature.used line, fact code) per feature, for the hot loop.
        self.core_tails = [self._tail(f) for f in self.core_features]
        self.non_core_tails = [self._tail(f) for f in self.non_core_features]
        self._day_prefix: dict[int, str] = {}
        self.inbound_mu = math.log(inbound_resolution_median_hours)
        self.proactive_mu = math.log(proactive_resolution_median_hours)


    def _tail(self, feature: str) -> tuple[str, int]:
        return f',"properties":{self.lines.feature_json[feature]}}}', self.feature_codes[feature]

    @staticmethod
    def is_weekend(ts: int) -> bool:
        return (ts // US_PER_DAY + 3) % 7 >= 5  # 1970-01-01 was a Thursday

    def day_prefix(self, start: int) -> str:
        """``YYYY-MM-DDT`` of the day starting at ``start``."""
        prefix = self._day_prefix.get(start)
        if prefix is None:
            prefix = self._day_prefix[start] = self.calendar.rfc3339(start)[:11]
        return prefix


def _resolution_us(rng: Random, mu: float, sigma: float) -> int:
    hours = rng.lognormvariate(mu, sigma)
    return max(60, int(hours * 3600)) * US_PER_SECOND


class SimAccount:
    """A customer account driven by its plan, its random stream and any rescues.

    >>> from random import Random
    >>> from forewarn.simulate.population import draw_plan
    >>> world = World(Calendar("2026-01-01", 30), ("reports", "dashboards", "integrations"))
    >>> acct = SimAccount(draw_plan("acct-1", "steady_power", Random(5), world.calendar), Random(6), world)
    >>> out = []
    >>> for day in range(30):
    ...     acct.live_day(day, out)
    >>> len(out) > 30, {e[3] for e in out} >= {"session.started", "feature.used"}
    (True, True)
    >>> acct.met("activity", world.calendar.start_us, world.calendar.end_us)
    True
    """

    def __init__(self, plan: AccountPlan, rng: Random, world: World):
        self.plan = plan
        self.account_id = plan.account_id
        self.key = plan.account_id.encode()
        self._rng = rng
        self._world = world
        self._eid_prefix = plan.account_id + "."
        self._seq = 0
        self._tickets = 0
        self._users = [f"{plan.account_id}-u{i}" for i in range(plan.users)]
        # Constant pieces of this account's JSON lines (see forewarn.simulate.lines).
        self._line_head = f'{{"event_id":"{self._eid_prefix}'
        self._line_session = f'","account_id":"{plan.account_id}","type":"session.started","occurred_at":"'
        self._line_feature = f'","account_id":"{plan.account_id}","type":"feature.used","occurred_at":"'
        self._line_user = [f'","user_id":"{user}"' for user in self._users]
        self._pending: list[tuple] = []
        self._order = 0
        # Accounts that existed before the window adopted a core feature long ago.
        self.adopts_at = -1 if plan.onboarded_at is None else plan.adopts_at
        self.churn_at = plan.churn_at
        self.natural_churn_at = plan.churn_at
        self.canceled_at: int | None = None
        self.trouble_starts_at = plan.payment_trouble[0][0] if plan.payment_trouble else None
        self.trouble_ends_at = plan.trouble_ends_at
        self.quiet_from: int | None = None
        self.returns_at: int | None = None
        self.rescued_at: int | None = None
        self.last_activity: int | None = None
        self.fact_ts = array("q")
        self.fact_code = bytearray()
        #: When each inbound ticket was opened: what an intervention may avoid, for the ROI's truth.
        self.inbound_ts = array("q")
        codes = world.codes
        if plan.onboarded_at is not None:
            self._schedule(plan.onboarded_at, "account.onboarded", self._users[0], {"plan": plan.plan},
                           codes.ONBOARDED)
            if plan.adopts_at is not None:
                feature = world.core_features[rng.randrange(len(world.core_features))]
                self._schedule(plan.adopts_at, "feature.used", self._users[0], world.feature_props[feature],
                               codes.feature_code(feature))
        for attempt, (ts, kind) in enumerate(plan.payment_trouble, 1):
            if kind == "payment.failed":
                self._schedule(ts, kind, None, {"amount_usd": plan.mrr_usd, "attempt": attempt},
                               codes.PAYMENT_FAILED)
            else:
                self._schedule(ts, kind, None, {"amount_usd": plan.mrr_usd}, codes.PAYMENT_SUCCEEDED)
        if self.churn_at is not None:
            self._schedule_cancel(self.churn_at)

    # ----------------------------------------------------------------- scheduling

    def _schedule(self, ts: int, kind: str, user: str | None, props: dict | None, code: int | None) -> None:
        self._order += 1
        heapq.heappush(self._pending, (ts, self._order, kind, user, props, code))

    def _schedule_cancel(self, ts: int) -> None:
        reason = "payment_failed" if self.plan.persona == "payment_failing" else "churned"
        self._schedule(ts, "subscription.canceled", None, {"reason": reason}, FactCodes.CANCELED)

    def _unschedule(self, kinds: frozenset[str], after: int) -> None:
        self._pending = [p for p in self._pending if not (p[2] in kinds and p[0] > after)]
        heapq.heapify(self._pending)

    def _emit(self, out: list, ts: int, kind: str, user: str | None, props: dict | None, code: int | None) -> None:
        self._seq += 1
        line = self._world.lines.line(self._eid_prefix + str(self._seq), self.account_id, kind, ts, user, props)
        out.append((ts, self.key, line, kind))
        if code is not None:
            self.fact_ts.append(ts)
            self.fact_code.append(code)
            if self._world.codes.is_activity(code) and (self.last_activity is None or ts > self.last_activity):
                self.last_activity = ts

    # ----------------------------------------------------------------- one day

    def live_day(self, day: int, out: list) -> None:
        """Append this account's events of simulated ``day`` to ``out`` (any order)."""
        plan = self.plan
        start = self._world.calendar.day_start(day)
        end = start + US_PER_DAY
        if day == plan.quiet_day and self.quiet_from is None:
            self._go_quiet(start)
        churn_at = self.churn_at
        onboarded_at = plan.onboarded_at
        if (churn_at is None or churn_at > start) and (onboarded_at is None or onboarded_at < end):
            if (day - plan.billing_offset) % BILLING_CYCLE_DAYS == 0:
                self._bill(day, start, out)
            random = self._rng.random
            # Most account-days belong to settled accounts: skip the general path for them.
            settled = onboarded_at is None and churn_at is None and self.quiet_from is None
            lo, hi = (start, end) if settled else self._activity_span(start, end)
            if lo < hi:
                if settled and plan.decline_day is None:
                    level = plan.weekend_level if self._world.is_weekend(start) else plan.weekday_level
                else:
                    level = self._level(day, start)
                if random() < level:
                    self._sessions(start, lo, hi, out)
            draw = random()
            if draw < MAX_TICKET_CHANCE:  # cheap test first: most account-days open no ticket
                self._maybe_inbound_ticket(draw, day, start, end, out)
        pending = self._pending
        while pending and pending[0][0] < end:
            ts, _, kind, user, props, code = heapq.heappop(pending)
            if self.churn_at is not None and ts > self.churn_at and not kind.startswith("ticket."):
                continue  # a canceled customer does nothing but wait for open tickets to close
            if kind == "subscription.canceled":
                self.canceled_at = ts
            self._emit(out, ts, kind, user, props, code)

    def _go_quiet(self, start: int) -> None:
        plan = self.plan
        self.quiet_from = start
        last = self.last_activity if self.last_activity is not None else start
        if plan.quiet_gap_us is not None:
            self.returns_at = max(last + plan.quiet_gap_us, start + US_PER_HOUR)
            self._schedule(self.returns_at, "session.started", self._users[0], None, _SESSION)
        if plan.churn_after_quiet_us is not None and self.churn_at is None:
            self.churn_at = self.natural_churn_at = last + plan.churn_after_quiet_us
            self._schedule_cancel(self.churn_at)

    def _bill(self, day: int, start: int, out: list) -> None:
        plan = self.plan
        if plan.onboarded_at is not None and day <= self._world.calendar.day_of(plan.onboarded_at):
            return
        ts = start + plan.billing_second * US_PER_SECOND
        if self.churn_at is not None and ts >= self.churn_at:
            return
        if self.trouble_starts_at is not None and self.trouble_starts_at <= ts <= (self.trouble_ends_at or ts):
            return  # the dunning schedule replaces this cycle's charge
        self._emit(out, ts, "payment.succeeded", None, {"amount_usd": plan.mrr_usd}, FactCodes.PAYMENT_SUCCEEDED)

    def _activity_span(self, start: int, end: int) -> tuple[int, int]:
        """The part of the day in which the account may be active: ``[lo, hi)``."""
        lo, hi = start, end
        if self.plan.onboarded_at is not None:
            lo = max(lo, self.plan.onboarded_at + 60 * US_PER_SECOND)
        if self.churn_at is not None:
            hi = min(hi, self.churn_at)
        if self.quiet_from is not None:
            if self.returns_at is None or self.returns_at >= end:
                hi = min(hi, self.quiet_from)
            else:
                lo = max(lo, self.returns_at + US_PER_SECOND)
        return lo, hi

    def _adopted_before(self, ts: int) -> bool:
        return self.adopts_at is not None and self.adopts_at < ts

    def _level(self, day: int, start: int) -> float:
        plan = self.plan
        weekend = self._world.is_weekend(start)
        if self._adopted_before(start):
            level = plan.weekend_level if weekend else plan.weekday_level
        else:
            level = PRE_ADOPTION_LEVELS[weekend]
            days_in = (start - plan.onboarded_at) / US_PER_DAY
            if days_in > 7:  # a stalled onboarding fades
                level *= math.exp(-(days_in - 7) / 20)
        if plan.decline_day is not None and day >= plan.decline_day and not self._rescued_before(start):
            total = max(1, self._world.calendar.day_of(plan.churn_at) - plan.decline_day)
            level *= max(0.03, 1 - (day - plan.decline_day) / total)
        return level

    def _rescued_before(self, ts: int) -> bool:
        return self.rescued_at is not None and self.rescued_at < ts

    def _sessions(self, start: int, lo: int, hi: int, out: list) -> None:
        """A busy day: sessions of the active users, each followed by a few feature uses."""
        random = self._rng.random
        world = self._world
        core, non_core = world.core_tails, world.non_core_tails
        n_core, n_other = len(core), len(non_core)
        key = self.key
        head, session_mid, feature_mid = self._line_head, self._line_session, self._line_feature
        day_prefix, clock = world.day_prefix(start), world.calendar.clock
        add_ts, add_code = self.fact_ts.append, self.fact_code.append
        append = out.append
        seq = self._seq
        lo_s, hi_s, day_s = lo // US_PER_SECOND, hi // US_PER_SECOND, start // US_PER_SECOND
        span = hi_s - lo_s
        adopts = self.adopts_at
        share = self.plan.user_active_share
        latest = self.last_activity or 0
        for i, user_part in enumerate(self._line_user):
            if i and random() >= share:
                continue
            if random() < 0.8:  # most sessions fall in working hours
                s = day_s + 28_800 + int(random() * 43_200)
            else:
                s = day_s + int(random() * _DAY_S)
            if not lo_s <= s < hi_s:
                s = lo_s + int(random() * span)
            t = s * US_PER_SECOND
            seq += 1
            append((t, key, f'{head}{seq}{session_mid}{day_prefix}{clock[s - day_s]}{user_part}}}'.encode(),
                    "session.started"))
            add_ts(t)
            add_code(_SESSION)
            for _ in range(int(random() * 4)):
                s += 20 + int(random() * 600)
                if s >= hi_s:
                    break
                t = s * US_PER_SECOND
                if adopts is not None and t > adopts and random() < CORE_SHARE:
                    tail, code = core[int(random() * n_core)]
                else:
                    tail, code = non_core[int(random() * n_other)]
                seq += 1
                append((t, key, f'{head}{seq}{feature_mid}{day_prefix}{clock[s - day_s]}{user_part}{tail}'.encode(),
                        "feature.used"))
                add_ts(t)
                add_code(code)
            if t > latest:
                latest = t
        self._seq = seq
        self.last_activity = latest

    def _maybe_inbound_ticket(self, draw: float, day: int, start: int, end: int, out: list) -> None:
        plan = self.plan
        chance, topic = BASE_TICKET_CHANCE, "how_to"
        if plan.onboarded_at is not None and not self._adopted_before(start) \
                and start - plan.onboarded_at >= 3 * US_PER_DAY:
            chance, topic = chance + STALLED_ONBOARDING_TICKET_CHANCE, "onboarding"
        if self.trouble_starts_at is not None and self.trouble_starts_at <= start \
                and (self.trouble_ends_at is None or start < self.trouble_ends_at):
            chance, topic = chance + PAYMENT_TROUBLE_TICKET_CHANCE, "billing"
        if plan.decline_day is not None and day >= plan.decline_day and not self._rescued_before(start):
            chance, topic = chance + DECLINE_TICKET_CHANCE, "bug"
        if draw >= chance:
            return
        rng = self._rng
        lo = start + 8 * US_PER_HOUR
        if plan.onboarded_at is not None:
            lo = max(lo, plan.onboarded_at + 60 * US_PER_SECOND)
        hi = end if self.churn_at is None else min(end, self.churn_at)
        if lo >= hi:
            return
        ts = lo + int(rng.random() * ((hi - lo) // US_PER_SECOND)) * US_PER_SECOND
        self._tickets += 1
        ticket = f"{self.account_id}-t{self._tickets}"
        user = self._users[int(rng.random() * len(self._users))]
        self._emit(out, ts, "ticket.opened", user, {"ticket_id": ticket, "origin": "inbound", "topic": topic}, None)
        self.inbound_ts.append(ts)
        resolved = ts + _resolution_us(rng, self._world.inbound_mu, TICKET_TIME_SIGMA)
        self._schedule(resolved, "ticket.resolved", None, {"ticket_id": ticket, "origin": "inbound"}, None)

    # ----------------------------------------------------------------- interventions

    def open_proactive_ticket(self, ts: int, intervention_id: str, trigger: str, rng: Random) -> str:
        """Log an outreach as a proactive ticket at ``ts``; it resolves faster than inbound ones."""
        self._tickets += 1
        ticket = f"{self.account_id}-t{self._tickets}"
        opened = {"ticket_id": ticket, "origin": "proactive", "intervention_id": intervention_id, "trigger": trigger}
        resolved = {"ticket_id": ticket, "origin": "proactive", "intervention_id": intervention_id}
        self._schedule(ts, "ticket.opened", None, opened, None)
        self._schedule(ts + _resolution_us(rng, self._world.proactive_mu, TICKET_TIME_SIGMA),
                       "ticket.resolved", None, resolved, None)
        return ticket

    def rescue(self, wanted: str, at: int, rng: Random) -> bool:
        """Plant the response an intervention caused at ``at``; False when the customer is already gone."""
        if self.churn_at is not None and self.churn_at <= at:
            return False
        world = self._world
        codes = world.codes
        user = self._users[int(rng.random() * len(self._users))]
        if wanted == "core_feature":
            feature = world.core_features[int(rng.random() * len(world.core_features))]
            self._schedule(at, "feature.used", user, world.feature_props[feature], codes.feature_code(feature))
            if self.adopts_at is None or self.adopts_at > at:
                self.adopts_at = at
        elif wanted == "payment.succeeded":
            self._schedule(at, "payment.succeeded", None, {"amount_usd": self.plan.mrr_usd},
                           codes.PAYMENT_SUCCEEDED)
            self._unschedule(frozenset({"payment.failed"}), at)
            if self.trouble_starts_at is not None and (self.trouble_ends_at is None or self.trouble_ends_at > at):
                self.trouble_ends_at = at
        else:
            self._schedule(at, "session.started", user, None, _SESSION)
            if self.quiet_from is not None and (self.returns_at is None or self.returns_at > at):
                self.returns_at = at
        if self.churn_at is not None:
            self._unschedule(frozenset({"subscription.canceled"}), at)
            self.churn_at = None
        self.rescued_at = at
        return True

    def fork(self) -> "SimAccount":
        """An independent copy at this instant, for the no-intervention counterfactual."""
        twin = object.__new__(SimAccount)
        twin.__dict__.update(self.__dict__)
        twin._rng = Random()
        twin._rng.setstate(self._rng.getstate())
        twin._pending = list(self._pending)
        twin.fact_ts = array("q", self.fact_ts)
        twin.fact_code = bytearray(self.fact_code)
        twin.inbound_ts = array("q", self.inbound_ts)
        return twin

    def met(self, wanted: str, start: int, end: int) -> bool:
        """Whether an event that ``wanted`` names occurred in ``[start, end)``."""
        codes = self._world.codes
        for ts, code in zip(self.fact_ts, self.fact_code):
            if start <= ts < end:
                if wanted == "core_feature" and codes.is_core(code):
                    return True
                if wanted == "payment.succeeded" and code == codes.PAYMENT_SUCCEEDED:
                    return True
                if wanted == "activity" and codes.is_activity(code):
                    return True
        return False

    def first_core_at(self) -> int | None:
        """When the account first used a core feature, among the events emitted so far (None: not yet)."""
        is_core = self._world.codes.is_core
        return min((ts for ts, code in zip(self.fact_ts, self.fact_code) if is_core(code)), default=None)

    def facts(self) -> list:
        """The account's trigger-relevant events as reference facts ``(ts, type, feature)``."""
        return self._world.codes.decode(self.fact_ts, self.fact_code)
