"""Event time in the engine: watermark, late events, duplicates, advancing, redelivered offsets, state size."""

from __future__ import annotations

import random

from detectors.memory_store import MemoryStore
from event_factory import DAY, HOUR, LATENESS, MINUTE, T0, default_engine, ev, run

US = 1


def test_watermark_is_max_event_time_minus_lateness_and_never_goes_back():
    engine, store = default_engine(), MemoryStore()
    r1 = engine.process_chunk(0, [ev("a", "session.started", T0 + HOUR)], store)
    r2 = engine.process_chunk(0, [ev("a", "session.started", T0)], store)  # an hour behind: late
    assert r1.watermark == T0 + HOUR - LATENESS
    assert r2.watermark == r1.watermark
    assert len(r2.late) == 1


def test_an_event_exactly_at_the_watermark_is_accepted_and_one_below_is_late():
    engine, store = default_engine(), MemoryStore()
    engine.process_chunk(0, [ev("a", "ticket.opened", T0)], store)
    at = ev("a", "payment.failed", T0 - LATENESS)
    below = ev("a", "payment.failed", T0 - LATENESS - US)
    result = engine.process_chunk(0, [at, below], store)
    assert result.late == [below]
    assert result.accepted == 1


def test_late_events_of_unnamed_types_are_reported_too():
    engine, store = default_engine(), MemoryStore()
    engine.process_chunk(0, [ev("a", "ticket.opened", T0 + DAY)], store)
    late = ev("b", "something.custom", T0)
    assert engine.process_chunk(0, [late], store).late == [late]


def test_duplicates_are_dropped_and_counted():
    engine, store = default_engine(), MemoryStore()
    first = ev("a", "payment.failed", T0, event_id="dup-1")
    again = ev("a", "payment.failed", T0, event_id="dup-1")
    result = engine.process_chunk(0, [first, again, ev("a", "payment.failed", T0 + MINUTE)], store)
    assert result.duplicates == 1
    result = engine.process_chunk(0, [again], store)  # redelivered in a later chunk, still within lateness
    assert result.duplicates == 1


def test_event_ids_are_forgotten_once_the_watermark_passes_them():
    engine = default_engine()
    store = MemoryStore(engine.codec)

    def pending_of_a():
        acct = engine.codec.decode(store.encoded("a"))
        return [p for st in acct.rules if st is not None for p in st.pending]

    engine.process_chunk(0, [ev("a", "payment.failed", T0, event_id="f-1")], store)
    assert [p[0] for p in pending_of_a()] == [T0]  # remembered while at or above the watermark
    # the failure wakes the account once the watermark passes it: folded, its id dropped
    engine.process_chunk(0, [ev("b", "ticket.opened", T0 + LATENESS + US)], store)
    assert pending_of_a() == []
    # a copy arriving now is below the watermark: late, not a duplicate
    result = engine.process_chunk(0, [ev("a", "payment.failed", T0, event_id="f-1")], store)
    assert len(result.late) == 1 and result.duplicates == 0


def test_advance_to_fires_every_deadline_at_or_before_it_and_nothing_after():
    engine, store = default_engine(), MemoryStore()
    engine.process_chunk(0, [ev("a", "account.onboarded", T0), ev("b", "account.onboarded", T0 + HOUR)], store)
    assert engine.advance_to(0, T0 + 7 * DAY - 2 * US, store).firings == []
    fired = engine.advance_to(0, T0 + 7 * DAY, store).firings
    assert [(f.account_id, f.fired_at) for f in fired] == [("a", T0 + 7 * DAY)]
    fired = engine.advance_to(0, T0 + 8 * DAY, store).firings
    assert [(f.account_id, f.fired_at) for f in fired] == [("b", T0 + HOUR + 7 * DAY)]
    # advancing backwards changes nothing
    assert engine.advance_to(0, T0, store).firings == []
    assert store.load(0, ()).record.watermark == T0 + 8 * DAY + US


def test_events_at_or_before_an_advance_are_late_afterwards():
    engine, store = default_engine(), MemoryStore()
    engine.advance_to(0, T0, store)
    result = engine.process_chunk(0, [ev("a", "payment.failed", T0), ev("a", "payment.failed", T0 + US)], store)
    assert [e.ts for e in result.late] == [T0]


def test_a_deadline_fires_for_an_account_that_sends_nothing_more():
    # account a goes silent; only other accounts' events move the watermark past its deadline
    engine, store = default_engine(), MemoryStore()
    engine.process_chunk(0, [ev("a", "account.onboarded", T0)], store)
    assert store.wakes(0) == {"a": T0 + 7 * DAY}
    result = engine.process_chunk(0, [ev("z", "ticket.opened", T0 + 7 * DAY + LATENESS)], store)
    assert [(f.account_id, f.trigger) for f in result.firings] == [("a", "onboarding_stalled")]
    assert store.wakes(0) == {}


def test_partitions_keep_separate_watermarks():
    engine, store = default_engine(), MemoryStore()
    engine.process_chunk(0, [ev("a", "ticket.opened", T0 + DAY)], store)
    result = engine.process_chunk(1, [ev("b", "payment.failed", T0)], store)
    assert result.late == []


def test_redelivered_offsets_are_skipped_and_change_nothing():
    engine, store = default_engine(), MemoryStore(default_engine().codec)
    events = [ev("a", "payment.failed", T0 + i * HOUR) for i in range(3)]
    engine.process_chunk(0, events[:2], store, offsets=[10, 11])
    before = (store.encoded("a"), store.load(0, ()).record)
    again = engine.process_chunk(0, events[:2], store, offsets=[10, 11])
    assert again.replayed == 2 and again.accepted == 0
    assert (store.encoded("a"), store.load(0, ()).record) == before
    # a chunk that straddles the applied offset applies only the new part
    third = engine.process_chunk(0, events[1:], store, offsets=[11, 12], last_offset=14)
    assert third.replayed == 1 and third.accepted == 1
    assert store.load(0, ()).record.applied_offset == 14


def test_firings_are_emitted_once_across_chunks_and_advances():
    engine, store = default_engine(), MemoryStore()
    emitted = []
    for i in range(3):
        emitted += engine.process_chunk(0, [ev("a", "payment.failed", T0 + i * HOUR)], store).firings
    for extra in (T0 + DAY, T0 + 2 * DAY):
        emitted += engine.process_chunk(0, [ev("z", "ticket.opened", extra)], store).firings
        emitted += engine.advance_to(0, extra, store).firings
    assert [(f.trigger, f.fired_at) for f in emitted] == [("payment_failing", T0 + 2 * HOUR)]


def test_a_busy_account_stays_under_1kb_with_30_day_windows():
    """Three months of a heavy user: hourly activity, failures, onboarding — the stored blob stays small."""
    engine = default_engine()
    store = MemoryStore(engine.codec)
    rnd = random.Random(1)
    events = [ev("acct-with-a-fairly-long-identifier-0001", "account.onboarded", T0)]
    for hour in range(90 * 24):
        at = T0 + hour * HOUR
        events.append(ev("acct-with-a-fairly-long-identifier-0001", rnd.choice(["session.started", "feature.used"]),
                         at + rnd.randrange(HOUR), rnd.choice(["reports", "settings"]),
                         event_id=f"01HZX{hour:021d}"))
        if hour % 97 == 0:
            events.append(ev("acct-with-a-fairly-long-identifier-0001", "payment.failed", at))
    sizes = []
    for i in range(0, len(events), 50):
        engine.process_chunk(0, events[i:i + 50], store)
        sizes.append(len(store.encoded("acct-with-a-fairly-long-identifier-0001")))
    assert max(sizes) <= 1024, max(sizes)
    assert max(sizes) > 50  # it does hold state
