"""The contract every :class:`detectors.store.Store` implementation must pass.

Subclass :class:`StoreContract` in a ``Test...`` class and implement
``make_store(codec)`` (a fresh, empty store for each call). The Redis store's
test reuses it from another directory like this::

    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "detectors"))
    from store_contract import StoreContract

    class TestRedisStore(StoreContract):
        def make_store(self, codec):
            return RedisStore(redis_client, codec, namespace=fresh_namespace())

The last test runs the engine itself over the store on random out-of-order
populations and demands the very firings, account states (byte for byte),
wake-up times and partition records of the in-memory reference store.
"""

from __future__ import annotations

import random

from detectors.memory_store import MemoryStore
from detectors.state import AccountState, StateCodec
from detectors.store import Changes, PartitionRecord, Store
from event_factory import DAY, arrival_order, default_engine, population
from schemas.firing import Firing

ENGINE = default_engine()
CODEC: StateCodec = ENGINE.codec


def _state(pending_ts: int) -> AccountState:
    acct = CODEC.new()
    rule = CODEC.rules[0]
    acct.rules[0] = rule.new_state()
    acct.rules[0].pending.append((pending_ts, 7, 1))
    CODEC.refresh(acct)
    return acct


class StoreContract:
    """Shared tests; ``make_store`` is the only thing an implementation provides."""

    def make_store(self, codec: StateCodec) -> Store:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- plain load / apply -----------------------------------------------------

    def test_a_fresh_store_has_a_default_record_and_nothing_else(self):
        store = self.make_store(CODEC)
        loaded = store.load(0, ["a", "b"])
        assert loaded.record == PartitionRecord()
        assert loaded.accounts == {}
        assert store.load_due(0, 1 << 60, ()) == {}

    def test_applied_states_and_record_load_back_exactly(self):
        store = self.make_store(CODEC)
        record = PartitionRecord(watermark=100, max_ts=400, applied_offset=41)
        put = {"a": _state(5), "b": _state(9)}
        store.apply(0, Changes(record=record, put=put, wakes={k: v.wake for k, v in put.items()}, ttl_us=30 * DAY))
        loaded = store.load(0, ["a", "b", "c"])
        assert loaded.record == record
        assert sorted(loaded.accounts) == ["a", "b"]
        assert CODEC.encode(loaded.accounts["a"]) == CODEC.encode(_state(5))
        assert loaded.accounts["b"].stored_wake == _state(9).wake is not None

    def test_loaded_records_are_copies(self):
        store = self.make_store(CODEC)
        store.apply(0, Changes(record=PartitionRecord(1, 2, 3)))
        store.load(0, ()).record.watermark = 999
        assert store.load(0, ()).record == PartitionRecord(1, 2, 3)

    def test_delete_removes_the_state(self):
        store = self.make_store(CODEC)
        store.apply(0, Changes(record=PartitionRecord(), put={"a": _state(5)}))
        store.apply(0, Changes(record=PartitionRecord(), delete=["a", "never-existed"]))
        assert store.load(0, ["a"]).accounts == {}

    def test_firings_and_ttl_are_accepted(self):
        store = self.make_store(CODEC)
        firing = Firing("payment_failing", "a", 5, {"occurrences": []})
        store.apply(0, Changes(record=PartitionRecord(0, 0, 0), put={"a": _state(5)}, ttl_us=DAY, firings=[firing]))
        assert "a" in store.load(0, ["a"]).accounts

    # -- wake-up times ------------------------------------------------------------

    def test_load_due_returns_accounts_due_by_upto_with_their_states(self):
        store = self.make_store(CODEC)
        store.apply(0, Changes(record=PartitionRecord(), put={"a": _state(1), "b": _state(2), "c": _state(3)},
                               wakes={"a": 10, "b": 20, "c": 30}))
        assert sorted(store.load_due(0, 20, ())) == ["a", "b"]
        assert sorted(store.load_due(0, 19, ())) == ["a"]
        assert CODEC.encode(store.load_due(0, 10, ())["a"]) == CODEC.encode(_state(1))

    def test_load_due_skips_what_the_engine_already_holds_and_consumes_nothing(self):
        store = self.make_store(CODEC)
        store.apply(0, Changes(record=PartitionRecord(), put={"a": _state(1), "b": _state(2)},
                               wakes={"a": 10, "b": 20}))
        assert sorted(store.load_due(0, 50, {"a"})) == ["b"]
        assert sorted(store.load_due(0, 50, ())) == ["a", "b"]
        assert sorted(store.load_due(0, 50, ())) == ["a", "b"]

    def test_wakes_move_and_disappear_only_through_apply(self):
        store = self.make_store(CODEC)
        store.apply(0, Changes(record=PartitionRecord(), put={"a": _state(1), "b": _state(2)},
                               wakes={"a": 10, "b": 20}))
        store.apply(0, Changes(record=PartitionRecord(), wakes={"a": 40, "b": None}))
        assert list(store.load_due(0, 39, ())) == []
        assert list(store.load_due(0, 40, ())) == ["a"]
        store.apply(0, Changes(record=PartitionRecord(), wakes={"a": 15}))
        assert list(store.load_due(0, 15, ())) == ["a"]

    def test_partitions_keep_their_own_records_and_wakes(self):
        store = self.make_store(CODEC)
        store.apply(0, Changes(record=PartitionRecord(1, 1, 1), put={"a": _state(1)}, wakes={"a": 10}))
        store.apply(1, Changes(record=PartitionRecord(2, 2, 2), put={"b": _state(2)}, wakes={"b": 10}))
        assert store.load(0, ()).record == PartitionRecord(1, 1, 1)
        assert store.load(1, ()).record == PartitionRecord(2, 2, 2)
        assert list(store.load_due(0, 99, ())) == ["a"]
        assert list(store.load_due(1, 99, ())) == ["b"]

    # -- the engine on top ----------------------------------------------------------

    def test_the_engine_on_this_store_matches_the_reference_store(self):
        for seed in (3, 11):
            events = arrival_order(population(seed, accounts=5), seed, duplicates=0.1)
            until = max(e.ts for e in events)
            outcomes = []
            for store in (MemoryStore(CODEC), self.make_store(CODEC)):
                rnd = random.Random(seed)
                fired, i = [], 0
                while i < len(events):
                    size = rnd.randrange(1, 120)
                    fired += ENGINE.process_chunk(0, events[i:i + size], store, offsets=list(range(i, i + size))).firings
                    i += size
                fired += ENGINE.advance_to(0, until, store).firings
                accounts = sorted({e.account_id for e in events})
                states = {aid: CODEC.encode(a) for aid, a in store.load(0, accounts).accounts.items()}
                due = sorted(store.load_due(0, 1 << 60, ()))
                outcomes.append(([f.to_json() for f in fired], states, due, store.load(0, ()).record))
            assert outcomes[0][0], "the population fires something"
            assert outcomes[1] == outcomes[0]
