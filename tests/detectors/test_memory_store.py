"""The in-memory store passes the store contract in both of its modes."""

from __future__ import annotations

from detectors.memory_store import MemoryStore
from store_contract import CODEC, StoreContract, _state
from detectors.store import Changes, PartitionRecord


class TestMemoryStoreEncoded(StoreContract):
    def make_store(self, codec):
        return MemoryStore(codec)


class TestMemoryStoreObjects(StoreContract):
    def make_store(self, codec):
        return MemoryStore()


def test_the_encoded_mode_keeps_bytes_the_codec_reads_back():
    store = MemoryStore(CODEC)
    store.apply(0, Changes(record=PartitionRecord(), put={"a": _state(5)}))
    assert store.encoded("a") == CODEC.encode(_state(5))
    assert store.account_ids() == ["a"]
