"""The closed-loop simulation: advance simulated time a day at a time, feed back interventions.

A driver, live or file-based, repeats::

    batch = sim.step()            # day N's records, in arrival order, noise included
    deliver(batch.records)        # to a file, or produce them to Kafka
    ...                           # live: wait until the pipeline's watermark passes batch.end_us
    sim.feed(commands)            # interventions decided so far, as dicts or Outreach
    # and step() again for day N + 1, until sim.done

Commands may arrive late or early: one decided at ``decided_at`` takes effect
when the first day ending after ``decided_at`` is generated, and never before
the events already handed over. For each command the simulation records the
counterfactual — would the trigger's success metric have been met had nobody
intervened? — by replaying a copy of the account without it, then draws whether
the intervention rescues the customer (the planted lift). ``truth()`` gathers
everything a report is checked against. With ``keep_twins=True`` those copies
are kept, and ``follow()`` lives the treated accounts and their twins on past
the last day: the counterfactual an ROI is checked against
(``forewarn.simulate.counterfactual``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from random import Random
from typing import Any

from forewarn.simulate.account import SimAccount, World
from forewarn.simulate.config import SimulationConfig
from forewarn.simulate.counterfactual import Counterfactuals, Course
from forewarn.simulate.delivery import DeliveryNoise
from forewarn.simulate.errors import SimulationError
from forewarn.simulate.feedback import Outreach, parse_command
from forewarn.simulate.outcomes import success_metric
from forewarn.simulate.personas import PERSONAS
from forewarn.simulate.population import allocate_personas, draw_plan
from forewarn.simulate.timeline import Calendar
from forewarn.simulate.truth import Truth, build_truth
from schemas.timefmt import US_PER_DAY, US_PER_SECOND, format_rfc3339

__all__ = ["Simulation", "DayBatch", "FeedReport", "Treatment"]


@dataclass(frozen=True, slots=True)
class DayBatch:
    """One simulated day's records ``(key, value)`` in arrival order; the day is ``[start_us, end_us)``.

    >>> DayBatch(0, 1767225600000000, 1767312000000000, []).date
    '2026-01-01'
    """

    day: int
    start_us: int
    end_us: int
    records: list[tuple[bytes, bytes]]

    @property
    def date(self) -> str:
        return format_rfc3339(self.start_us)[:10]


@dataclass(frozen=True, slots=True)
class FeedReport:
    """What ``feed`` did with a set of commands.

    >>> FeedReport(accepted=2, duplicates=1)
    FeedReport(accepted=2, duplicates=1, unknown_accounts=0)
    """

    accepted: int = 0
    duplicates: int = 0
    unknown_accounts: int = 0


@dataclass(frozen=True, slots=True)
class Treatment:
    """One intervention the simulated customer received, with its planted effect and counterfactual.

    ``applied_at`` is when it reached the customer (``decided_at``, or the start
    of the first day generated after the command arrived); ``rescued_at`` is
    set when the planted lift made the customer answer; ``natural_success``
    says whether the success metric would have been met without it.

    >>> t = Treatment("c1", "acct-1", "payment_failing", "outreach", 0, 0, "payment.succeeded",
    ...               7 * 86_400_000_000, 0.25, None, False, "acct-1-t1")
    >>> t.rescued_at is None and not t.natural_success
    True
    """

    command_id: str
    account_id: str
    trigger: str
    intervention: str
    decided_at: int
    applied_at: int
    wanted: str
    window_end: int
    lift: float
    rescued_at: int | None
    natural_success: bool
    proactive_ticket: str


class Simulation:
    """A seeded population living through ``config.days`` days, one ``step()`` per day.

    >>> from forewarn.simulate.config import SimulationConfig
    >>> sim = Simulation(SimulationConfig(accounts=20, days=3, seed=1))
    >>> batch = sim.step()
    >>> batch.day, batch.date, len(batch.records) > 0
    (0, '2026-01-01', True)
    >>> sim.feed([{"command_id": "c1", "account_id": "acct-00003", "trigger": "power_user_gone_quiet",
    ...            "intervention": "we_miss_you", "decided_at": "2026-01-01T20:00:00Z"}]).accepted
    1
    >>> while not sim.done:
    ...     _ = sim.step()
    >>> [t.command_id for t in sim.treatments]
    ['c1']
    """

    def __init__(self, config: SimulationConfig, keep_twins: bool = False):
        self.config = config
        self.keep_twins = keep_twins
        self.calendar = Calendar(config.start, config.days)
        self.world = World(self.calendar, config.core_features, config.inbound_resolution_median_hours,
                           config.proactive_resolution_median_hours)
        personas = allocate_personas(config.accounts, config.weights(), Random(f"{config.seed}:population"))
        width = max(5, len(str(config.accounts - 1)))
        self.accounts: list[SimAccount] = []
        for i, persona in enumerate(personas):
            rng = Random(f"{config.seed}:account:{i}")
            plan = draw_plan(f"acct-{i:0{width}d}", persona, rng, self.calendar)
            self.accounts.append(SimAccount(plan, rng, self.world))
        self._by_id = {a.account_id: a for a in self.accounts}
        self.delivery = DeliveryNoise(config.noise, config.seed, self.calendar)
        self.next_day = 0
        self.treatments: list[Treatment] = []
        self._queue: list[tuple[int, int, Outreach]] = []
        self._arrivals = 0
        self._command_ids: set[str] = set()
        # command id -> (the account just before the command, the next day it has to live)
        self._twins: dict[str, tuple[SimAccount, int]] = {}
        self.fed = {"accepted": 0, "duplicates": 0, "unknown_accounts": 0}

    @property
    def done(self) -> bool:
        return self.next_day >= self.calendar.days

    @property
    def pending_commands(self) -> int:
        """Commands fed whose ``decided_at`` lies after the last day generated so far."""
        return len(self._queue)

    def account(self, account_id: str) -> SimAccount:
        return self._by_id[account_id]

    def feed(self, commands: Iterable[Mapping[str, Any] | Outreach]) -> FeedReport:
        """Queue intervention commands; repeats (same ``command_id``) and unknown accounts are counted, not applied.

        Raises ``CommandError`` for a command that lacks a required field.
        """
        accepted = duplicates = unknown = 0
        for raw in commands:
            cmd = parse_command(raw)
            if cmd.command_id in self._command_ids:
                duplicates += 1
                continue
            self._command_ids.add(cmd.command_id)
            if cmd.account_id not in self._by_id:
                unknown += 1
                continue
            self._arrivals += 1
            heapq.heappush(self._queue, (cmd.decided_at, self._arrivals, cmd))
            accepted += 1
        self.fed["accepted"] += accepted
        self.fed["duplicates"] += duplicates
        self.fed["unknown_accounts"] += unknown
        return FeedReport(accepted, duplicates, unknown)

    def step(self) -> DayBatch:
        """Generate the next day: apply the commands due by its end, then every account's events."""
        if self.done:
            raise SimulationError(f"all {self.calendar.days} days are simulated; start a new Simulation")
        day = self.next_day
        start = self.calendar.day_start(day)
        end = start + US_PER_DAY
        while self._queue and self._queue[0][0] < end:
            self._apply(heapq.heappop(self._queue)[2], start)
        raw: list = []
        for account in self.accounts:
            account.live_day(day, raw)
        records = self.delivery.deliver(day, raw)
        self.next_day += 1
        return DayBatch(day, start, end, records)

    def _apply(self, cmd: Outreach, cursor: int) -> None:
        account = self._by_id[cmd.account_id]
        metric = success_metric(cmd.trigger)
        lift = self.config.lift_for(cmd.trigger) * PERSONAS[account.plan.persona].responsiveness
        window_end = cmd.decided_at + metric.window_us
        natural = self._counterfactual(account, metric.wanted, cmd.decided_at, window_end, cmd.command_id)
        applied, ticket, rescued_at = self._intervene(account, cmd, cursor, lift, metric.window_us, metric.wanted)
        self.treatments.append(Treatment(cmd.command_id, cmd.account_id, cmd.trigger, cmd.intervention,
                                         cmd.decided_at, applied, metric.wanted, window_end, lift, rescued_at,
                                         natural, ticket))

    def _intervene(self, account: SimAccount, cmd: Outreach, cursor: int, lift: float, window_us: int,
                   wanted: str) -> tuple[int, str, int | None]:
        """Deliver ``cmd`` to ``account``: its proactive ticket, and the rescue if the planted lift says so."""
        # The intervention's own random stream: the customer's usual behaviour is not disturbed by it.
        rng = Random(f"{self.config.seed}:command:{cmd.command_id}")
        applied = max(cmd.decided_at, cursor)
        ticket = account.open_proactive_ticket(applied + rng.randint(300, 3 * 3600) * US_PER_SECOND,
                                               cmd.command_id, cmd.trigger, rng)
        rescued_at = None
        if rng.random() < lift:
            # A rescued customer answers well inside the success window, and before a cancellation
            # that was coming: an outreach that reaches someone still subscribed can keep them.
            span_s = int(0.6 * window_us // US_PER_SECOND)
            if account.churn_at is not None:
                span_s = min(span_s, (account.churn_at - applied) // US_PER_SECOND - 1)
            if span_s >= 1:
                at = applied + rng.randint(min(3600, span_s), span_s) * US_PER_SECOND
                if account.rescue(wanted, at, rng):
                    rescued_at = at
        return applied, ticket, rescued_at

    def _counterfactual(self, account: SimAccount, wanted: str, start: int, end: int, command_id: str) -> bool:
        """Whether the account meets ``wanted`` in ``[start, end)`` if nobody intervenes from now on."""
        twin = account.fork()
        last_day = min(self.calendar.days - 1, self.calendar.day_of(end - 1))
        scratch: list = []
        for day in range(self.next_day, last_day + 1):
            twin.live_day(day, scratch)
        if self.keep_twins:
            self._twins[command_id] = (twin, max(self.next_day, last_day + 1))
        return twin.met(wanted, start, end)

    def follow(self, horizon_us: int) -> Counterfactuals:
        """Every treated command's account with and without it, followed until ``decided_at + horizon_us``.

        Needs ``keep_twins=True``. Commands still queued at the end are applied
        on the way, as ``step()`` would have; nothing new is decided. The
        simulation itself is left as it was: this lives copies.
        """
        if not self.keep_twins:
            raise SimulationError("follow() needs the twins; create the Simulation with keep_twins=True")
        queued: dict[str, list[Outreach]] = {}
        for _, _, cmd in sorted(self._queue):
            queued.setdefault(cmd.account_id, []).append(cmd)
        ends: dict[str, int] = {}
        for cmd in [*self.treatments, *(c for cmds in queued.values() for c in cmds)]:
            ends[cmd.account_id] = max(ends.get(cmd.account_id, 0), cmd.decided_at + horizon_us)
        twins = dict(self._twins)
        applied = {t.command_id: t.applied_at for t in self.treatments}
        decided = {t.command_id: t.decided_at for t in self.treatments}
        factual: dict[str, Course] = {}
        scratch: list = []
        for account_id in sorted(ends):
            account = self.account(account_id).fork()
            waiting = queued.get(account_id, [])
            for day in range(self.next_day, self.calendar.day_of(ends[account_id] - 1) + 1):
                start = self.calendar.day_start(day)
                while waiting and waiting[0].decided_at < start + US_PER_DAY:
                    cmd = waiting.pop(0)
                    metric = success_metric(cmd.trigger)
                    lift = self.config.lift_for(cmd.trigger) * PERSONAS[account.plan.persona].responsiveness
                    twins[cmd.command_id] = (account.fork(), day)
                    applied[cmd.command_id] = self._intervene(account, cmd, start, lift, metric.window_us,
                                                              metric.wanted)[0]
                    decided[cmd.command_id] = cmd.decided_at
                account.live_day(day, scratch)
                scratch.clear()
            factual[account_id] = _course(account, ends[account_id])
        untreated: dict[str, Course] = {}
        for command_id, (kept, next_day) in twins.items():
            twin = kept.fork()
            end = decided[command_id] + horizon_us
            for day in range(next_day, self.calendar.day_of(end - 1) + 1):
                twin.live_day(day, scratch)
                scratch.clear()
            untreated[command_id] = _course(twin, end)
        return Counterfactuals(factual, untreated, applied)

    def truth(self) -> Truth:
        """The ground truth of everything simulated so far (see ``forewarn.simulate.truth``)."""
        return build_truth(self)


def _course(account: SimAccount, until: int) -> Course:
    canceled = account.canceled_at if account.canceled_at is not None and account.canceled_at < until else None
    return Course(canceled, tuple(ts for ts in account.inbound_ts if ts < until), until)
