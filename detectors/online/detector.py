"""The drop-off detector of one partition: profiles, daily scoring of every account, ``usage_drop`` firings.

Event time drives everything, as in the rule engine (DESIGN.md, "Time"):

- The partition's watermark is the largest ``occurred_at`` seen minus the
  allowed lateness; an event below it is late and ignored (the engine sends
  it to the DLQ), exactly the events the engine calls late.
- An event is counted into its own UTC day's :class:`~detectors.online.tally.DayTally`;
  a repeated ``event_id`` is dropped while a copy of it could still be accepted (its
  ``occurred_at`` at or above the watermark; the tally's id generations).
- A day *closes* when the watermark passes its end. Then **every known
  account** of the partition is scored for that day — the ones that sent
  nothing included: a silent day is a day of zeros, and that is the case
  that matters. The next scoring time is the same for every account, the end
  of the oldest open day (``next_due``), like the engine's wake-up times; an
  idle partition's watermark still advances (the live runtime's idle
  advance, or ``advance_to`` at the end of a backtest), so a silent account
  is scored with no new events at all.

Closing a day runs in two passes over the accounts in account-id order:
fold the day into each profile, score everyone and decide (against the
partition's model and threshold as they stood when the day began), then let
the model and the threshold learn from the accounts not in a drop-off
episode. So the firings depend only on the partition's events — not on
chunking, not on which worker owns the partition, not on arrival order
within the lateness.

A firing's ``fired_at`` is the end of the day it judged (event time), so a
replay gives the same firings, with the same ids, as living through it.

>>> from schemas.event import Event
>>> from schemas.timefmt import US_PER_DAY
>>> from detectors.online.rate_drop import RateDropScorer
>>> from detectors.online.threshold import QuantileThreshold
>>> from detectors.online.episodes import EpisodePolicy
>>> det = DropOffDetector(RateDropScorer(min_days=14), QuantileThreshold(q=0.99, min_scores=200),
...                       EpisodePolicy(min_days=14))
>>> def at(day):  # 09:00 UTC on a day
...     return day * US_PER_DAY + 9 * 3600 * 10**6
>>> events = [Event(f"{i}.{d}", f"acct-{i}", "session.started", at(d), "u1")
...           for d in range(70) for i in range(10)
...           if (d + i) % 7 < 5                 # ten accounts, each active five days a week
...           and not (i == 3 and d >= 50)]      # until acct-3 falls silent on day 50
>>> fired = det.process(events) + det.advance_to(at(70))
>>> [(f.account_id, f.evidence["day"], f.evidence["score"] > f.evidence["threshold"]) for f in fired]
[('acct-3', '1970-02-27', True)]
>>> sorted(fired[0].evidence)
['baseline', 'day', 'day_counts', 'detector', 'features', 'score', 'threshold']
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.online.base import DropScorer
from detectors.online.episodes import Episode, EpisodePolicy
from detectors.online.profile import ActivityProfile, Horizons
from detectors.online.tally import SILENT_DAY, TICK_TYPE, DayTally, EventLike
from detectors.online.threshold import QuantileThreshold
from schemas.firing import Firing, firing_sort_key
from schemas.timefmt import US_PER_DAY, US_PER_MINUTE, format_rfc3339

__all__ = ["DropOffDetector", "AccountDrop", "DetectorCounts", "DayHook", "NO_TIME"]

#: Watermark and largest event time of a partition that has seen nothing (as the engine's store).
NO_TIME = -(1 << 62)

#: Called for every account-day scored: (account_id, day, x, score or None when not scored, fired).
DayHook = Callable[[str, int, Mapping[str, float], "float | None", bool], None]


@dataclass(slots=True)
class AccountDrop:
    """One account's drop-off state: profile, scorer memory, episode, open days, canceled flag."""

    profile: ActivityProfile
    memory: list[float]
    episode: Episode = field(default_factory=Episode)
    tallies: dict[int, DayTally] = field(default_factory=dict)
    canceled: bool = False

    def next_due(self) -> int:
        """When this account is next scored: the end of its first unfolded day (event time, µs)."""
        return (self.profile.last_day + 2) * US_PER_DAY

    def encode(self) -> list[Any]:
        """A JSON-ready form (numbers, strings, lists); ``decode`` inverts it exactly."""
        return [self.profile.encode(), list(self.memory), self.episode.encode(),
                [[day, t.encode()] for day, t in sorted(self.tallies.items())], 1 if self.canceled else 0]

    @classmethod
    def decode(cls, data: list[Any]) -> "AccountDrop":
        profile, memory, episode, tallies, canceled = data
        return cls(ActivityProfile.decode(profile), [float(m) for m in memory], Episode.decode(episode),
                   {int(day): DayTally.decode(t) for day, t in tallies}, bool(canceled))


@dataclass(slots=True)
class DetectorCounts:
    """What the detector did, for metrics and reports (no account ids)."""

    accepted: int = 0
    late: int = 0
    duplicates: int = 0
    replayed: int = 0
    days_closed: int = 0
    account_days_scored: int = 0
    firings: int = 0
    suppressed: int = 0
    retired: int = 0


class DropOffDetector:
    """Drop-off detection for the accounts of one partition; see the module docstring.

    Parameters
    ----------
    scorer, threshold, policy
        Scores account-days; learns the firing threshold; decides (warm-ups, episodes).
    trigger
        The trigger name firings carry.
    horizons
        Half-lives of the profiles' weighted statistics.
    allowed_lateness_us
        The engine's allowed lateness: the watermark trails the largest event time by this much.
    retire_after_days
        An account silent this long is forgotten (the engine's state TTL).
    retire_canceled_after_days
        A canceled account silent this long is forgotten.
    on_day
        Optional hook called for every account-day scored (evaluation, benchmarks).
    """

    def __init__(self, scorer: DropScorer, threshold: QuantileThreshold, policy: EpisodePolicy, *,
                 trigger: str = "usage_drop", horizons: Horizons | None = None,
                 allowed_lateness_us: int = 5 * US_PER_MINUTE, retire_after_days: int = 400,
                 retire_canceled_after_days: int = 30, on_day: DayHook | None = None) -> None:
        if allowed_lateness_us < 0:
            raise ValueError("allowed_lateness_us must be >= 0")
        self.scorer = scorer
        self.threshold = threshold
        self.policy = policy
        self.trigger = trigger
        self.horizons = horizons if horizons is not None else Horizons()
        self.allowed_lateness_us = allowed_lateness_us
        self.retire_after_days = retire_after_days
        self.retire_canceled_after_days = retire_canceled_after_days
        self.on_day = on_day
        self.watermark = NO_TIME
        self.max_ts = NO_TIME
        self.applied_offset = -1
        #: The last UTC day closed (None before the first event).
        self.closed_through: int | None = None
        self.accounts: dict[str, AccountDrop] = {}
        self._order: list[str] = []
        self.counts = DetectorCounts()

    # -- entry points -------------------------------------------------------------

    def process(self, events: Sequence[EventLike], offsets: Sequence[int] | None = None,
                last_offset: int | None = None) -> list[Firing]:
        """Apply a chunk of the partition's events in arrival order; return the firings that became due.

        ``offsets`` (one per event) lets a redelivered event — at or below the
        applied offset — be skipped; ``last_offset`` is the chunk's highest
        offset, invalid messages included.
        """
        out: list[Firing] = []
        counts = self.counts
        lateness = self.allowed_lateness_us
        applied = self.applied_offset
        accounts = self.accounts
        tick_type, us_per_day = TICK_TYPE, US_PER_DAY
        watermark, max_ts = self.watermark, self.max_ts
        accepted = late = replayed = duplicates = 0
        for i, ev in enumerate(events):
            if offsets is not None and offsets[i] <= applied:
                replayed += 1
                continue
            ts = ev.ts
            if ts < watermark:
                late += 1
                continue
            accepted += 1
            if ts > max_ts:
                max_ts = ts
                if ts - lateness > watermark:
                    watermark = ts - lateness
                    if self.closed_through is None or watermark >= (self.closed_through + 2) * US_PER_DAY:
                        self._move_watermark(watermark, out)  # a day ends: score every account
            # Count the event into its account's open day (inlined here: this runs for every event).
            if ev.type == tick_type:
                continue  # a watermark tick moves time, it is nobody's usage
            day = ts // us_per_day
            acct = accounts.get(ev.account_id)
            # (an accepted event is never before the first day of an account that has folded days)
            if acct is None or day < acct.profile.first_day:
                acct = self._new_account(ev.account_id, day)
            tally = acct.tallies.get(day)
            if tally is None:
                tally = acct.tallies[day] = DayTally()
            if not tally.add(ev, watermark, max_ts):
                duplicates += 1
        self.watermark, self.max_ts = max(self.watermark, watermark), max_ts
        counts.accepted += accepted
        counts.late += late
        counts.replayed += replayed
        counts.duplicates += duplicates
        if last_offset is not None:
            self.applied_offset = max(self.applied_offset, last_offset)
        elif offsets:
            self.applied_offset = max(self.applied_offset, max(offsets))
        out.sort(key=firing_sort_key)
        return out

    def advance_to(self, until_us: int) -> list[Firing]:
        """Declare every event at or before ``until_us`` arrived: the watermark moves to ``until_us`` + 1 µs.

        The end of a backtest, and the live runtime's idle advance: days that
        end by then close and every account is scored, whether or not it sent anything.
        """
        out: list[Firing] = []
        if until_us + 1 > self.watermark:
            self._move_watermark(until_us + 1, out)
        out.sort(key=firing_sort_key)
        return out

    @property
    def next_due(self) -> int | None:
        """The watermark at which the next day closes (every account is scored then); None before any event."""
        if self.closed_through is None:
            return None
        return (self.closed_through + 2) * US_PER_DAY

    # -- internals ----------------------------------------------------------------

    def _move_watermark(self, watermark: int, out: list[Firing]) -> None:
        self.watermark = watermark
        last_closable = watermark // US_PER_DAY - 1
        if self.closed_through is None:
            # Days before the first watermark were never open: nothing of them can arrive now.
            self.closed_through = last_closable
            return
        while self.closed_through < last_closable:
            self._close_day(self.closed_through + 1, out)
            self.closed_through += 1

    def _new_account(self, account_id: str, day: int) -> AccountDrop:
        """The account an event of ``day`` counts into when it is new, or has folded no day yet."""
        acct = self.accounts.get(account_id)
        if acct is None:
            acct = self.accounts[account_id] = AccountDrop(ActivityProfile(first_day=day), self.scorer.new_memory())
            bisect.insort(self._order, account_id)
        elif acct.profile.days == 0 and day < acct.profile.first_day:
            acct.profile.first_day = day  # an earlier event of a new account, within the lateness
        return acct

    def _close_day(self, day: int, out: list[Firing]) -> None:
        scorer, policy, horizons = self.scorer, self.policy, self.horizons
        threshold = self.threshold.value
        # During the threshold's warm-up nothing fires, but accounts above the running
        # estimate leave the armed population all the same (see threshold.py): a *shadow*
        # episode, released as soon as the threshold is trusted.
        estimate = self.threshold.estimate if threshold is None else None
        hook = self.on_day
        accounts = self.accounts
        score_one, should_fire = scorer.score_one, policy.should_fire
        judged: list[tuple[str, AccountDrop, dict[str, float], DayTally | None, float | None, bool, bool]] = []
        firings_before = len(out)
        scored = 0
        # Pass 1: fold the day, score and decide against the model as it stood when the day began.
        for aid in self._order:
            acct = accounts[aid]
            profile = acct.profile
            if profile.first_day > day:
                continue
            tally = acct.tallies.pop(day, None)
            if tally is None:
                values = SILENT_DAY
                profile.fold_silent(horizons)
            else:
                values = tally.values()
                profile.fold_counts(horizons, values["day_active"], values["day_sessions"], values["day_features"],
                                    values["day_users"], values["day_payments_failed"], values["day_tickets"])
            x = profile.features(horizons)
            x.update(values)
            if acct.canceled and values["day_active"]:
                acct.canceled = False  # the customer is back
            score: float | None = None
            fired = armed = False
            if not acct.canceled:
                scored += 1
                episode = acct.episode
                if episode.shadow and threshold is not None:
                    policy.close(episode)
                score = score_one(x, acct.memory)
                armed = not episode.open
                # should_fire needs score > threshold first: checked here, most accounts stop at it
                if threshold is not None and score > threshold and should_fire(episode, score, threshold, x):
                    fired = True
                    out.append(self._firing(aid, day, x, values, score, threshold))
                    policy.open(episode, day, x["active_long"])
                elif estimate is not None and score > estimate and should_fire(episode, score, estimate, x):
                    self.counts.suppressed += 1
                    policy.open(episode, day, x["active_long"], shadow=True)
            judged.append((aid, acct, x, tally, score, armed, fired))
            if hook is not None:
                hook(aid, day, x, score, fired)
        # Pass 2: learn from the accounts not in a drop-off episode, re-arm, retire.
        retired: list[str] = []
        update_threshold = self.threshold.update
        learn_one = None if scorer.stateless else scorer.learn_one  # a stateless scorer learns nothing
        min_days = scorer.min_days
        retire = self._retire
        for aid, acct, x, tally, score, armed, fired in judged:
            episode = acct.episode
            if score is not None:
                if learn_one is not None and not fired and (not episode.open or episode.shadow):
                    learn_one(x, acct.memory)
                if armed and x["days_observed"] >= min_days:
                    update_threshold(score)
            if episode.open and not armed:  # open before today: has usage come back?
                policy.observe(episode, x["day_active"])
                if policy.recovered(episode):
                    policy.close(episode)
                    scorer.forget(acct.memory)
            if tally is not None and tally.canceled:
                acct.canceled = True
                policy.close(episode)
                scorer.forget(acct.memory)
            if not acct.tallies and retire(acct, day):
                retired.append(aid)
        self.counts.days_closed += 1
        self.counts.account_days_scored += scored
        self.counts.firings += len(out) - firings_before
        if retired:
            for aid in retired:
                del accounts[aid]
            self._order = sorted(accounts)
            self.counts.retired += len(retired)

    def _retire(self, acct: AccountDrop, day: int) -> bool:
        if acct.tallies:
            return False
        last = acct.profile.last_active_day
        silent = day - (last if last is not None else acct.profile.first_day - 1)
        limit = self.retire_canceled_after_days if acct.canceled else self.retire_after_days
        return silent >= limit

    def _firing(self, aid: str, day: int, x: Mapping[str, float], values: Mapping[str, int], score: float,
                threshold: float | None) -> Firing:
        fired_at = (day + 1) * US_PER_DAY
        features = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in x.items() if not k.startswith("day_")}
        evidence = {
            "detector": self.scorer.name,
            "day": format_rfc3339(day * US_PER_DAY)[:10],
            "score": round(score, 4),
            "threshold": None if threshold is None else round(threshold, 4),
            "features": features,
            "day_counts": dict(values),
            "baseline": self.scorer.baseline(x),
        }
        return Firing(self.trigger, aid, fired_at, evidence)

    # -- state ----------------------------------------------------------------------

    def snapshot(self, accounts: bool = True) -> dict[str, Any]:
        """Everything the detector knows, for a checkpoint (the scorer and threshold as objects).

        ``accounts=False`` leaves the accounts out: the partition-wide model alone, for a
        store that keeps each account's ``AccountDrop.encode()`` on its own (the live runtime).
        """
        snap = {
            "trigger": self.trigger,
            "watermark": self.watermark,
            "max_ts": self.max_ts,
            "applied_offset": self.applied_offset,
            "closed_through": self.closed_through,
            "scorer": self.scorer,
            "threshold": self.threshold,
        }
        if accounts:
            snap["accounts"] = {aid: self.accounts[aid].encode() for aid in self._order}
        return snap

    def restore(self, snapshot: Mapping[str, Any], accounts: Mapping[str, AccountDrop] | None = None) -> None:
        """Take over a snapshot's state (this detector's policy, horizons and hook are kept).

        ``accounts``: the accounts, already decoded, of a snapshot taken with ``accounts=False``.
        """
        self.trigger = snapshot["trigger"]
        self.watermark = int(snapshot["watermark"])
        self.max_ts = int(snapshot["max_ts"])
        self.applied_offset = int(snapshot["applied_offset"])
        ct = snapshot["closed_through"]
        self.closed_through = None if ct is None else int(ct)
        if accounts is not None:
            self.accounts = dict(accounts)
        else:
            self.accounts = {aid: AccountDrop.decode(data) for aid, data in snapshot["accounts"].items()}
        self._order = sorted(self.accounts)
        self.scorer = snapshot["scorer"]
        self.threshold = snapshot["threshold"]

    def account_state_bytes(self, account_ids: Iterable[str] | None = None) -> list[int]:
        """Encoded size (compact JSON) of each account's state — what a shared store would hold."""
        import orjson

        ids = self._order if account_ids is None else account_ids
        return [len(orjson.dumps(self.accounts[aid].encode())) for aid in ids]
