"""The policy: from trigger firings to decisions, and to commands for the treated ones.

Detectors say an account needs help; the policy decides whether Forewarn
acts, protecting customers from being pestered and keeping a control group.
For every firing it sees exactly once, it publishes exactly one
:class:`~schemas.decision.Decision`; only ``treated`` ones become
:class:`~schemas.command.InterventionCommand`\\ s.

The rules, in the order they apply
----------------------------------

1. **Dedupe.** A firing id already decided (or held) for the account is
   dropped without a second decision. Ids are remembered for
   ``dedupe_horizon`` of event time; a firing older than the partition's
   watermark minus that horizon cannot be checked any more and is dropped as
   *stale* (counted, not decided) — only a replay of ancient firings into a
   live policy meets this.
2. **Quiet hours** move a firing's *effective time* to the end of the
   account's quiet hours (see :mod:`interventions.quiet_hours`); every later
   rule uses the effective time, which becomes ``decided_at``.
3. **Decision windows.** Time is cut into windows of ``decision_window``
   (aligned on the epoch, UTC). A firing is held until the partition's
   watermark — the largest ``fired_at`` seen — passes the end of its window;
   then all held firings of an account in that window are decided together,
   in priority order (higher ``priority`` first; ties: earlier effective
   time, then trigger name, then firing id). For each candidate:

   - ``cooldown`` if the account got a contact for the same trigger within
     the intervention's cooldown of this one (either side in time);
   - else ``frequency_cap`` if the account already has ``frequency_cap.max``
     contacts within ``frequency_cap.per`` of this one (either side);
   - else ``lower_priority`` if an earlier candidate of the window won it;
   - else ``window_taken`` if the window already had a contact when this
     firing arrived (it came after its window was decided);
   - else it **wins** the window: ``control`` if the account is in the
     holdout for this trigger, else ``treated``. Either way the win is a
     *contact* for the cooldown and cap bookkeeping.

   So priority decides among firings that could be sent: a high-priority
   firing in cooldown does not block a lower one.

Why control wins count as contacts
----------------------------------
Holdout membership is a hash of (salt, trigger, account), independent of
everything above, and it is applied last, to the winner. Treated and control
firings therefore pass the same filters, and afterwards both arms consume a
cooldown and a cap slot, so the later history of the two arms is filtered the
same way. Had control wins not counted, control accounts would be eligible
for more firings than treated ones and the comparison would be biased.

Time
----
Every rule runs on event time (``fired_at``), never the wall clock, and the
result does not depend on how the firings were cut into chunks: a replay of
the same firings topic gives the same decisions. The price is a delay of up
to one decision window (plus quiet hours) before a command goes out. A
partition whose firings stop would hold its last windows forever: the runtime
advances the watermark (``advance_to``) when it knows more time has passed,
and an embedded run calls :meth:`PolicyEngine.flush` at the end of its input.

>>> from schemas.catalogue import InterventionSpec, SuccessMetric
>>> from schemas.predicate import EventSpec
>>> from schemas.firing import Firing
>>> from interventions.config import PolicyConfig
>>> from interventions.store import InMemoryPolicyStore
>>> spec = InterventionSpec("payment_outreach", "email", 90, 7 * 86_400_000_000,
...                         SuccessMetric(EventSpec("payment.succeeded", None), 7 * 86_400_000_000),
...                         {"subject": "About your payment, {{account_id}}"})
>>> engine = PolicyEngine(PolicyConfig(default_holdout=0.0), {"payment_outreach": spec},
...                       {"payment_failing": "payment_outreach"}, InMemoryPolicyStore())
>>> hour = 3_600_000_000
>>> out = engine.process(0, [Firing("payment_failing", "acct-1", 10 * hour)])
>>> out.decisions   # held until the watermark passes the end of its one-hour window
[]
>>> out = engine.process(0, [Firing("payment_failing", "acct-2", 11 * hour)])
>>> [(d.account_id, d.arm) for d in out.decisions], out.commands[0].payload.content["subject"]
([('acct-1', 'treated')], 'About your payment, acct-1')
>>> [(d.account_id, d.arm) for d in engine.flush(0).decisions]
[('acct-2', 'treated')]
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interventions.config import PolicyConfig
from interventions.holdout import in_holdout
from interventions.state import AccountPolicyState, Allocation, HeldFiring, PartitionPolicyState
from interventions.store import PolicyStore
from interventions.template import render
from schemas.catalogue import InterventionSpec
from schemas.command import CommandPayload, InterventionCommand, command_id
from schemas.decision import Decision, decision_id
from schemas.firing import Firing
from schemas.timefmt import format_rfc3339, to_datetime

__all__ = ["PolicyEngine", "PolicyResult"]


@dataclass
class PolicyResult:
    """What one call decided, in (decided_at, account, trigger) order, and what it dropped."""

    decisions: list[Decision] = field(default_factory=list)
    commands: list[InterventionCommand] = field(default_factory=list)
    duplicates: int = 0  # firings already decided or held: no second decision
    stale: int = 0  # firings older than the dedupe horizon behind the watermark: dropped
    redelivered: int = 0  # records at or below the partition's applied offset: skipped
    applied_before: int = -1  # the partition's applied offset when the call began


class PolicyEngine:
    """Plain-Python policy over a :class:`~interventions.store.PolicyStore`; see the module docstring.

    ``triggers`` maps each trigger name to the name of its intervention in ``interventions``.
    """

    def __init__(self, policy: PolicyConfig, interventions: Mapping[str, InterventionSpec],
                 triggers: Mapping[str, str], store: PolicyStore):
        self.policy = policy
        self.interventions = dict(interventions)
        self.triggers = dict(triggers)
        self.store = store
        self._window = policy.decision_window_us
        longest = max([policy.cap_window_us] + [s.cooldown_us for s in self.interventions.values()])
        # Contacts must outlive every firing that can still be decided against them: one that is just
        # not stale (dedupe horizon behind the watermark) compares with contacts up to `longest` before it.
        self._contact_retention = policy.dedupe_horizon_us + longest

    @property
    def state_retention_us(self) -> int:
        """How long an account's policy state must outlive its last change (event time ≈ wall time live): its
        contacts and decided ids matter that long, plus a week for held firings and quiet hours."""
        return self._contact_retention + 7 * 86_400_000_000

    @classmethod
    def from_config(cls, config: Any, store: PolicyStore) -> "PolicyEngine":
        """From an assembled config (``streams.config.load_config``): its policy, catalogue and triggers."""
        policy = config.extra.get("policy") or PolicyConfig()
        triggers = {name: t.intervention for name, t in config.triggers.items()}
        return cls(policy, config.interventions, triggers, store)

    # -- entry points ---------------------------------------------------------

    def process(self, partition: int, firings: Sequence[Firing], offsets: Sequence[int] | None = None,
                advance_to: int | None = None, marks: Sequence[tuple[int, int]] = (),
                last_offset: int | None = None) -> PolicyResult:
        """Take a chunk of one partition's firings (in topic order) and return what is decided by now.

        ``offsets`` (the Kafka offsets of ``firings``) make redelivery harmless: records at or below the
        partition's applied offset are skipped. ``advance_to`` moves the watermark on without a firing,
        after them; ``marks`` are watermark markers where the topic has them: ``(i, watermark)`` comes
        after ``firings[:i]`` and before the rest, so where a fetch cut the chunk changes nothing.
        ``last_offset``: the chunk's highest offset, markers and unreadable records included (the applied
        offset moves past them, so the caller can tell a redelivered one by ``applied_before``).
        """
        return self._run(partition, firings, offsets, advance_to, release_all=False, marks=marks,
                         last_offset=last_offset)

    def flush(self, partition: int) -> PolicyResult:
        """Decide every held firing now (the end of an embedded run); the watermark stays where it is."""
        return self._run(partition, (), None, None, release_all=True)

    # -- the chunk ------------------------------------------------------------

    def _run(self, partition: int, firings: Sequence[Firing], offsets: Sequence[int] | None,
             advance_to: int | None, release_all: bool, marks: Sequence[tuple[int, int]] = (),
             last_offset: int | None = None) -> PolicyResult:
        """Apply the firings one by one, as if each were its own chunk (so chunking cannot matter).

        On each firing: dedupe and hold it against the watermark as it was, then move the watermark to
        its ``fired_at`` and decide every window that has closed. All state stays in memory between the
        store's two reads and its one write.
        """
        result = PolicyResult()
        part = self.store.read_partition(partition)
        result.applied_before = part.applied_offset
        if offsets is not None:
            if len(offsets) != len(firings):
                raise ValueError("offsets and firings differ in length")
            fresh = [o > part.applied_offset for o in offsets]
            # a marker's place among the firings kept (a redelivered marker only repeats a watermark)
            marks = [(sum(fresh[:i]), wm) for i, wm in marks]
            kept = [(o, f) for o, f in zip(offsets, firings) if o > part.applied_offset]
            result.redelivered = len(firings) - len(kept)
            firings = [f for _, f in kept]
            if kept:
                part.applied_offset = max(o for o, _ in kept)
        if last_offset is not None and last_offset > part.applied_offset:
            part.applied_offset = last_offset

        ends = ([f.fired_at for f in firings] + [wm for _, wm in marks]
                + [t for t in (advance_to, part.watermark) if t is not None])
        final_wm = max(ends) if ends else None
        due_by_end = {a for a, t in part.due.items() if release_all or (final_wm is not None and t <= final_wm)}
        needed = {f.account_id for f in firings} | due_by_end
        states = self.store.read_accounts(partition, needed) if needed else {}
        touched: set[str] = set()
        queue = [(t, a) for a, t in part.due.items()]
        heapq.heapify(queue)

        def release(watermark: int | None, everything: bool = False) -> None:
            while queue and (everything or (watermark is not None and queue[0][0] <= watermark)):
                t, account = heapq.heappop(queue)
                if part.due.get(account) != t:
                    continue  # superseded by a later push
                state = states.get(account)
                if state is None:  # its stored state expired (see the policy's state TTL): nothing held any more
                    part.due.pop(account, None)
                    continue
                self._release(account, state, watermark, everything, result)
                touched.add(account)
                self._set_due(part, queue, account, state)

        pending_marks = sorted(marks)

        def passed_marks(upto: int) -> None:
            while pending_marks and pending_marks[0][0] <= upto:
                _, wm = pending_marks.pop(0)
                if part.watermark is None or wm > part.watermark:
                    part.watermark = wm
                release(part.watermark)

        for i, firing in enumerate(firings):
            passed_marks(i)
            account = firing.account_id
            state = states.get(account)
            if state is None:
                state = states[account] = AccountPolicyState()
            if self._intake(firing, state, part.watermark, result):
                touched.add(account)
                self._set_due(part, queue, account, state)
            if part.watermark is None or firing.fired_at > part.watermark:
                part.watermark = firing.fired_at
            release(part.watermark)
        passed_marks(len(firings))
        if advance_to is not None and (part.watermark is None or advance_to > part.watermark):
            part.watermark = advance_to
        release(part.watermark, everything=release_all)

        for account in touched:
            self._prune(states[account], part.watermark)
        self.store.write(partition, part, {a: states[a] for a in touched})
        result.decisions.sort(key=lambda d: (d.decided_at, d.account_id, d.trigger, d.firing_id))
        result.commands.sort(key=lambda c: (c.decided_at, c.account_id, c.trigger, c.firing_id))
        return result

    def _intake(self, firing: Firing, state: AccountPolicyState, watermark: int | None,
                result: PolicyResult) -> bool:
        """Dedupe a firing and hold it (or decide it at once when no intervention answers it).

        False when it was dropped (a duplicate, or stale).
        """
        fid = firing.firing_id
        if fid in state.seen:
            result.duplicates += 1
            return False
        if watermark is not None and firing.fired_at < watermark - self.policy.dedupe_horizon_us:
            result.stale += 1
            return False
        state.seen[fid] = firing.fired_at
        if self._spec(firing.trigger) is None:
            self._emit(result, firing.account_id, firing.trigger, fid, firing.fired_at, firing.fired_at,
                       firing.evidence, "suppressed", "no_intervention")
            return True
        effective = firing.fired_at
        if self.policy.quiet_hours is not None:
            tz = firing.evidence.get("timezone") if isinstance(firing.evidence, dict) else None
            effective = self.policy.quiet_hours.effective_time(firing.fired_at, tz)
        state.held.append(HeldFiring(fid, firing.trigger, firing.fired_at, effective, firing.evidence))
        return True

    def _set_due(self, part: PartitionPolicyState, queue: list[tuple[int, str]], account: str,
                 state: AccountPolicyState) -> None:
        if state.held:
            due = min(self._window_end(h.effective_at) for h in state.held)
            if part.due.get(account) != due:
                part.due[account] = due
                heapq.heappush(queue, (due, account))
        else:
            part.due.pop(account, None)

    # -- deciding -------------------------------------------------------------

    def _spec(self, trigger: str) -> InterventionSpec | None:
        name = self.triggers.get(trigger)
        return self.interventions.get(name) if name is not None else None

    def _window_end(self, t: int) -> int:
        return (t // self._window + 1) * self._window

    def _release(self, account: str, state: AccountPolicyState, watermark: int | None, release_all: bool,
                 result: PolicyResult) -> None:
        ready = [h for h in state.held
                 if release_all or (watermark is not None and self._window_end(h.effective_at) <= watermark)]
        if not ready:
            return
        state.held = [h for h in state.held if h not in ready]
        windows: dict[int, list[HeldFiring]] = {}
        for h in ready:
            windows.setdefault(h.effective_at // self._window, []).append(h)
        for window in sorted(windows):
            self._decide_window(account, state, window, windows[window], result)

    def _decide_window(self, account: str, state: AccountPolicyState, window: int, group: list[HeldFiring],
                       result: PolicyResult) -> None:
        start, end = window * self._window, (window + 1) * self._window
        taken = any(start <= a.at < end for a in state.allocations)
        won = False
        # A firing held while a config change removed its trigger (or the trigger's intervention) has
        # nothing to send: decided like one that arrives now, and it competes with nothing.
        orphans = [h for h in group if self._spec(h.trigger) is None]
        for h in orphans:
            self._emit(result, account, h.trigger, h.firing_id, h.fired_at, h.effective_at, h.evidence, "suppressed",
                       "no_intervention")
        group = [h for h in group if self._spec(h.trigger) is not None]
        group.sort(key=lambda h: (-self._spec(h.trigger).priority, h.effective_at, h.trigger, h.firing_id))
        for h in group:
            spec = self._spec(h.trigger)
            t = h.effective_at
            reason: str | None = None
            if any(a.trigger == h.trigger and abs(a.at - t) < spec.cooldown_us for a in state.allocations):
                reason = "cooldown"
            elif sum(1 for a in state.allocations if abs(a.at - t) < self.policy.cap_window_us) >= self.policy.cap_max:
                reason = "frequency_cap"
            elif won:
                reason = "lower_priority"
            elif taken:
                reason = "window_taken"
            if reason is not None:
                self._emit(result, account, h.trigger, h.firing_id, h.fired_at, t, h.evidence, "suppressed", reason)
                continue
            won = True
            state.allocations.append(Allocation(t, h.trigger, spec.priority))
            state.allocations.sort()
            share = self.policy.holdout_share(h.trigger)
            arm = "control" if in_holdout(account, h.trigger, self.policy.salt, share) else "treated"
            self._emit(result, account, h.trigger, h.firing_id, h.fired_at, t, h.evidence, arm, None)

    def _emit(self, result: PolicyResult, account: str, trigger: str, fid: str, fired_at: int, decided_at: int,
              evidence: dict[str, Any], arm: str, reason: str | None) -> None:
        spec = self._spec(trigger)
        cid = command_id(fid) if arm == "treated" else None
        # The engine builds these from values it has checked, so it skips re-validation (a third of a
        # firing's cost); tests/interventions/test_policy.py re-validates every output against the contract.
        result.decisions.append(Decision.model_construct(
            decision_id=decision_id(fid), firing_id=fid, account_id=account, trigger=trigger,
            intervention=spec.name if spec is not None else None, arm=arm, reason=reason,
            fired_at=to_datetime(fired_at), decided_at=to_datetime(decided_at), experiment=self.policy.salt,
            command_id=cid,
        ))
        if cid is None:
            return
        context = {"account_id": account, "trigger": trigger, "intervention": spec.name,
                   "fired_at": format_rfc3339(fired_at), "evidence": evidence}
        result.commands.append(InterventionCommand.model_construct(
            command_id=cid, firing_id=fid, account_id=account, trigger=trigger, intervention=spec.name,
            channel=spec.channel,
            payload=CommandPayload.model_construct(content=render(spec.template, context), evidence=evidence),
            decided_at=to_datetime(decided_at), expires_at=to_datetime(decided_at + self.policy.command_ttl_us),
        ))

    def _prune(self, state: AccountPolicyState, watermark: int | None) -> None:
        """Forget what no firing that can still be decided could be compared with."""
        if watermark is None:
            return
        floor = watermark - self.policy.dedupe_horizon_us
        if any(t < floor for t in state.seen.values()):
            state.seen = {k: t for k, t in state.seen.items() if t >= floor}
        contact_floor = watermark - self._contact_retention
        if state.allocations and state.allocations[0].at < contact_floor:
            state.allocations = [a for a in state.allocations if a.at >= contact_floor]
