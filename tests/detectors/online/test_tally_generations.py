"""A day tally forgets the event ids a copy of which would be late: bounded, and nothing else changes."""

from __future__ import annotations

import orjson

import detectors.online.tally as tally_module
from detectors.online.detector import AccountDrop
from detectors.online.tally import DayTally, event_hash
from online_streams import DAY, LATENESS, T0_DAY, chunks, noisy_arrival, population, small_detector
from schemas.event import Event
from schemas.timefmt import US_PER_SECOND


def _run(events, sizes, *, roundtrip: bool):
    """Firings, counts and every open day's values after each chunk; ``roundtrip`` stores and reloads the accounts
    between chunks as the live runtime does (encode to JSON, decode)."""
    det = small_detector()
    fired, views = [], []
    rotated = 0
    for chunk in chunks(events, sizes):
        fired += [f.to_json() for f in det.process(chunk)]
        views.append({aid: {day: t.values() for day, t in acct.tallies.items()} for aid, acct in det.accounts.items()})
        rotated += sum(1 for acct in det.accounts.values() for t in acct.tallies.values() if t.older)
        if roundtrip:
            det.accounts = {aid: AccountDrop.decode(orjson.loads(orjson.dumps(acct.encode())))
                            for aid, acct in det.accounts.items()}
    fired += [f.to_json() for f in det.advance_to((det.max_ts // DAY + 1) * DAY - 1)]
    return (fired, det.counts, views), rotated


def test_forgetting_ids_changes_no_count_no_firing_and_no_duplicate_verdict(monkeypatch):
    add = DayTally.add
    from_older: list[bool] = []  # per added event: was its id in the previous generation?

    def spy(self, event, *args):
        from_older.append(event_hash(event.event_id) in self.older)
        return add(self, event, *args)

    truth = population(11, accounts=25, days=70, silent={"acct-002": 45})
    arrivals = noisy_arrival(truth, 11, duplicates=0.25)  # copies up to the allowed lateness after their event
    # and copies that come too late: dropped as late, whether or not their id is still remembered
    arrivals += [Event(e.event_id, e.account_id, e.type, e.ts, e.user_id, e.properties) for e in truth[-50:]]
    for sizes, roundtrip in (([7, 500, 3], False), ([1, 64], True), ([10_000], True)):
        monkeypatch.setattr(tally_module, "ROTATE_AT", 1 << 40)  # never forgets: the behaviour before generations
        never, rotated = _run(arrivals, sizes, roundtrip=roundtrip)
        assert never[1].duplicates > 100 and never[1].late >= 1 and rotated == 0
        monkeypatch.setattr(tally_module, "ROTATE_AT", 2)  # rotates all the time
        from_older.clear()
        monkeypatch.setattr(DayTally, "add", spy)
        forgetting, rotated = _run(arrivals, sizes, roundtrip=roundtrip)
        monkeypatch.setattr(DayTally, "add", add)
        assert rotated >= 10 and sum(from_older) >= 10  # copies recognised in the previous generation
        assert forgetting == never


def test_a_busy_accounts_day_keeps_about_the_ids_of_the_allowed_lateness():
    det = small_detector()
    start = (T0_DAY + 3) * DAY
    step = 2 * US_PER_SECOND  # 43,200 events in the day: a bot or a very busy account
    events = [Event(f"e{i}", "busy", "session.started", start + i * step, "u1") for i in range(DAY // step)]
    largest = 0
    for chunk in chunks(events, [1_000]):
        # each chunk also carries copies of its last events, still within the allowed lateness
        det.process(chunk + chunk[-20:])
        tally = det.accounts["busy"].tallies[T0_DAY + 3]
        largest = max(largest, len(tally.seen) + len(tally.older))
    lateness_ids = LATENESS // step  # 150 events in five minutes
    assert largest <= 2 * (tally_module.ROTATE_AT + lateness_ids + 1_000)
    assert tally.sessions == len(events)  # every copy recognised
    assert det.counts.duplicates == 20 * len(list(chunks(events, [1_000])))
    stored = len(orjson.dumps(det.accounts["busy"].encode()))
    assert stored < 40_000, stored  # every id of the day would be ~43,200 × 20 bytes


def test_a_tally_that_rotated_round_trips_and_an_older_state_still_reads():
    t = DayTally()
    base = T0_DAY * DAY
    for i in range(tally_module.ROTATE_AT + 5):
        assert t.add(Event(f"e{i}", "a", "session.started", base + i, "u1"), base - LATENESS, base + i)
    assert t.older and len(t.seen) == 5 and t.older_until == base + tally_module.ROTATE_AT - 1
    data = orjson.loads(orjson.dumps(t.encode()))
    assert len(data) == 8
    back = DayTally.decode(data)
    assert (back.seen, back.older, back.older_until, back.values()) == (t.seen, t.older, t.older_until, t.values())
    assert not back.add(Event("e3", "a", "session.started", base + 3, "u1"), base - LATENESS, base + 400)
    # a state stored before generations existed: seven items, every id in the current generation
    old = DayTally.decode([1, 0, 0, 1, [], ["u1"], [7, 9]])
    assert old.seen == {7, 9} and not old.older and len(old.encode()) == 7
