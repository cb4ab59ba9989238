"""The detector engine: event time, duplicates and deadlines around the rule primitives.

Per partition the engine keeps a watermark — the largest event time seen
minus the allowed lateness. An event below it is *late*: it is returned (for
the dead-letter topic) and changes nothing. Every other event whose type a
trigger names is checked against the account's recent event ids (duplicates
are dropped) and appended to the pending list of each trigger it concerns.

Pending events are folded into the triggers' state in event-time order, and
only once the watermark has passed them, so an event that arrives out of
order within the allowed lateness is applied exactly where it belongs and
arrival order never changes what fires. Each account carries a wake-up time
(stored per partition): the earliest watermark at which one of its triggers
could fire — a deadline, or a counted event becoming final — or at which a
long pending list should be folded. When the watermark reaches it, the
account is folded *to that time*, fires what is decided (see
:mod:`detectors.base`: an absence deadline when the watermark reaches it, a
count firing once the watermark is past its event), and gets its next one.
So deadlines fire for accounts that send nothing more, and folding is
batched: a touch only appends.

State is a pure function of the sequence of events applied: folds happen at
wake-up times, never at the watermark a chunk happened to end with; any
event arriving after the watermark passed a wake-up time lies at or after
it, and can move the wake-up time no earlier than just after itself (the
``next_due`` contract in :mod:`detectors.base`; the settle wake-up keeps it
too). So the times an account is folded at, and the stored state, are the
same however the events were split into chunks (a crash and a redelivery
included).

>>> from detectors.config import config_from_text
>>> from detectors.memory_store import MemoryStore
>>> from schemas.event import Event
>>> from schemas.timefmt import parse_rfc3339 as t
>>> cfg = config_from_text('''
... interventions: {pay: {channel: email, priority: 1, cooldown: 1d, success: {event: payment.succeeded, within: 7d}}}
... triggers:
...   payment_failing: {kind: count, event: payment.failed, threshold: 2, window: 30d,
...                     reset_on: [payment.succeeded], rearm_on: [payment.succeeded], intervention: pay}
... ''')
>>> engine, store = Engine.from_config(cfg), MemoryStore()
>>> fails = [Event(f"e{i}", "acct-1", "payment.failed", t(f"2026-01-0{i}T00:00:00Z")) for i in (1, 2)]
>>> engine.process_chunk(0, fails, store).firings
[]
>>> [f.to_json()["fired_at"] for f in engine.advance_to(0, t("2026-01-03T00:00:00Z"), store).firings]
['2026-01-02T00:00:00Z']
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from zlib import adler32, crc32
from dataclasses import dataclass, field
from typing import Any, Protocol

from detectors.base import Fired, Primitive, RuleState
from detectors.config import ForewarnConfig
from detectors.state import AccountState, StateCodec
from detectors.store import Changes, PartitionRecord, Store
from schemas.firing import Firing, firing_sort_key

__all__ = ["Engine", "ChunkResult", "EventLike", "event_id_hash"]


class EventLike(Protocol):
    """What the engine reads of an event (``schemas.event.Event`` has it)."""

    event_id: str
    account_id: str
    type: str
    ts: int
    properties: dict[str, Any]


def event_id_hash(event_id: str) -> int:
    """A stable 64-bit hash of an event id (CRC-32 and Adler-32 side by side).

    Stable across processes (unlike ``hash``), so stored state does not depend
    on which worker wrote it. Two ids of one account collide only if both
    checksums agree, within the few minutes an id is remembered.

    >>> event_id_hash("evt-1") == event_id_hash("evt-1") != event_id_hash("evt-2")
    True
    """
    raw = event_id.encode("utf-8", "surrogatepass")
    return (zlib.crc32(raw) << 32) | zlib.adler32(raw)


@dataclass(slots=True)
class ChunkResult:
    """What one call did.

    ``firings``: decided by this call, sorted by (fired_at, account, trigger).
    ``late``: events below the watermark, for the dead-letter topic (reason
    ``late``). ``accepted``: events at or above the watermark (duplicates
    included). ``duplicates``: accepted events whose id the account had already
    seen (only events some trigger names are checked). ``replayed``: events
    skipped because their offset was already applied. ``watermark``: the
    partition's watermark afterwards.
    """

    firings: list[Firing] = field(default_factory=list)
    late: list[Any] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    replayed: int = 0
    watermark: int = 0


class Engine:
    """Runs the configured triggers over chunks of one partition's events, on a :class:`Store`.

    ``rules``: the triggers' primitives (their ``name`` is the trigger name);
    ``allowed_lateness_us``: how far behind the largest event time an event
    may arrive and still count; ``state_ttl_us``: how long an idle account's
    state is kept (the store's time-to-live).
    """

    def __init__(self, rules: Sequence[Primitive], *, allowed_lateness_us: int, state_ttl_us: int,
                 max_pending: int = 8) -> None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"trigger names must be unique, got {names}")
        if allowed_lateness_us < 0:
            raise ValueError("allowed_lateness_us must be >= 0")
        self.rules = list(rules)
        self.allowed_lateness_us = allowed_lateness_us
        self.state_ttl_us = state_ttl_us
        self.codec = StateCodec(self.rules, max_pending=max_pending)
        # event type -> ((slot, roles it always has, ((role, predicate), ...)), ...), one entry per trigger
        # that names the type: one dict lookup per event, and one pending append per trigger.
        by_slot: dict[str, dict[int, tuple[int, list[tuple[int, Any]]]]] = {}
        for slot, rule in enumerate(self.rules):
            for spec, bit in rule.interests():
                slots = by_slot.setdefault(spec.type, {})
                always, conditional = slots.get(slot, (0, []))
                if spec.where is None:
                    always |= bit
                else:
                    conditional.append((bit, spec.where.compiled()))
                slots[slot] = (always, conditional)
        self._by_type = {
            kind: tuple((slot, always, tuple(conditional)) for slot, (always, conditional) in slots.items())
            for kind, slots in by_slot.items()
        }
        self._folds = [rule.fold for rule in self.rules]  # bound once: _fold runs at every wake-up

    @classmethod
    def from_config(cls, config: ForewarnConfig, *, allowed_lateness_us: int | None = None) -> "Engine":
        """An engine for the config's triggers; ``allowed_lateness_us`` overrides ``engine.allowed_lateness``."""
        lateness = config.engine.allowed_lateness_us if allowed_lateness_us is None else allowed_lateness_us
        return cls(config.rules(), allowed_lateness_us=lateness, state_ttl_us=config.engine.state_ttl_us)

    @property
    def event_types(self) -> frozenset[str]:
        """The event types some trigger names; other events only move the watermark."""
        return frozenset(self._by_type)

    # -- the two entry points ---------------------------------------------------

    def process_chunk(
        self,
        partition: int,
        events: Sequence[EventLike],
        store: Store,
        *,
        offsets: Sequence[int] | None = None,
        last_offset: int | None = None,
    ) -> ChunkResult:
        """Apply one chunk of a partition's events, in arrival order, and emit what became due.

        ``offsets`` (one per event) lets a redelivered event — offset at or below
        the partition's applied offset — be skipped; ``last_offset`` is the
        highest offset the chunk covers, invalid messages included. Late events
        come back in ``ChunkResult.late`` as the objects passed in. The loop reads
        the events' attributes directly: copying them into tuples first cost a
        quarter of the engine's time in the worker.
        """
        by_type = self._by_type
        wanted = {ev.account_id for ev in events if ev.type in by_type}
        loaded = store.load(partition, wanted)
        record = loaded.record
        accounts = loaded.accounts
        codec = self.codec
        n_rules = len(self.rules)
        new_state = [rule.new_state for rule in self.rules]
        lateness = self.allowed_lateness_us
        watermark, max_ts, applied = record.watermark, record.max_ts, record.applied_offset
        result = ChunkResult()
        fired: list[tuple[int, str, Fired]] = []
        # account -> (its trigger states, the ids it remembers). Nothing folds while the chunk is read, so
        # the remembered ids only grow: one set per account and chunk.
        seen: dict[str, tuple[list[RuleState | None], set[int]]] = {}
        touched: dict[str, AccountState] = {}
        late = result.late
        duplicates = replayed = 0
        if offsets is not None:
            fresh = [ev for ev, offset in zip(events, offsets) if offset > applied]
            replayed = len(events) - len(fresh)
            events = fresh

        for ev in events:
            ts = ev.ts
            if ts < watermark:
                late.append(ev)
                continue
            if ts > max_ts:
                max_ts = ts
                if ts - lateness > watermark:
                    watermark = ts - lateness
            entries = by_type.get(ev.type)
            if entries is None:
                continue
            aid = ev.account_id
            entry = seen.get(aid)
            if entry is None:
                acct = accounts.get(aid)
                if acct is None:
                    acct = accounts[aid] = AccountState(n_rules)
                touched[aid] = acct
                entry = seen[aid] = (acct.rules, {p[1] for st in acct.rules if st is not None for p in st.pending})
            rules_state, ids = entry
            try:
                raw = ev.event_id.encode()  # event_id_hash, inlined
            except UnicodeEncodeError:  # a lone surrogate: rare, and the error handler costs on every call
                raw = ev.event_id.encode("utf-8", "surrogatepass")
            h = (crc32(raw) << 32) | adler32(raw)
            if h in ids:
                duplicates += 1
                continue
            ids.add(h)
            for slot, roles, conditional in entries:
                if conditional:
                    props = ev.properties
                    for bit, where in conditional:
                        if where(props):
                            roles |= bit
                    if not roles:
                        continue
                st = rules_state[slot]
                if st is None:
                    st = rules_state[slot] = new_state[slot]()
                st.pending.append((ts, h, roles))

        refresh = codec.refresh
        for acct in touched.values():
            refresh(acct)
        new_offset = applied
        if last_offset is not None:
            new_offset = max(new_offset, last_offset)
        elif offsets:
            new_offset = max(new_offset, max(offsets))
        result.accepted, result.duplicates, result.replayed = len(events) - len(late), duplicates, replayed
        self._finish(partition, store, PartitionRecord(watermark, max_ts, new_offset), touched, fired, result)
        return result

    def advance_to(self, partition: int, until_us: int, store: Store) -> ChunkResult:
        """Declare that every event of the partition at or before ``until_us`` has arrived.

        The watermark moves to ``until_us`` + 1 µs (never backwards), so every
        firing at or before ``until_us`` is emitted — the end of a backtest, or
        the live runtime's idle advance. Events at or before ``until_us`` that
        arrive afterwards are late.
        """
        record = store.load(partition, ()).record
        record.watermark = max(record.watermark, until_us + 1)
        result = ChunkResult()
        self._finish(partition, store, record, {}, [], result)
        return result

    # -- internals --------------------------------------------------------------

    def _fold(self, acct: AccountState, aid: str, upto: int, fired: list[tuple[int, str, Fired]]) -> None:
        """Fold every trigger of the account to ``upto``, then recompute its wake-up time."""
        out: list[Fired] = []
        slot = 0
        for fold, st in zip(self._folds, acct.rules):
            if st is not None:
                fold(st, upto, out)
                if out:
                    fired.extend((slot, aid, f) for f in out)
                    out = []
            slot += 1
        self.codec.refresh(acct)

    def _finish(self, partition: int, store: Store, record: PartitionRecord, touched: dict[str, AccountState],
                fired: list[tuple[int, str, Fired]], result: ChunkResult) -> None:
        """Round trip 2, the wake-ups due by the new watermark, then the one atomic apply."""
        watermark = record.watermark
        due = store.load_due(partition, watermark, touched.keys())
        involved = dict(touched)
        involved.update(due)
        for aid, acct in involved.items():
            # Fold to each wake-up time itself, never to the watermark: an event that
            # arrives after the watermark passed a wake-up time lies at or after it, so
            # the state does not depend on where a chunk ended or when the fold ran.
            while acct.wake is not None and acct.wake <= watermark:
                at = acct.wake
                self._fold(acct, aid, at, fired)
                if acct.wake is not None and acct.wake <= at:
                    raise RuntimeError(f"trigger state did not progress past its wake-up time {at} (a primitive bug)")
        changes = Changes(record=record, ttl_us=self.state_ttl_us)
        put, delete, wakes = changes.put, changes.delete, changes.wakes
        n_rules = len(self.rules)
        for aid, acct in involved.items():
            if acct.rules.count(None) == n_rules:  # StateCodec.is_blank, inlined
                delete.append(aid)
            else:
                put[aid] = acct
            if acct.wake != acct.stored_wake:
                wakes[aid] = acct.wake
        rules = self.rules
        firings = [Firing(rules[slot].name, aid, fired_at, evidence) for slot, aid, (fired_at, evidence) in fired]
        firings.sort(key=firing_sort_key)
        changes.firings = firings
        store.apply(partition, changes)
        for acct in involved.values():
            acct.stored_wake = acct.wake
        result.firings = firings
        result.watermark = watermark
