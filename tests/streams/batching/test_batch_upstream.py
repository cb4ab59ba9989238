"""The drift guard: the Faust internals the batch consumer replaces or relies on are the pinned ones."""

from __future__ import annotations

import faust
import pytest

from streams.batching import upstream
from streams.batching.consumer import BatchConsumer
from streams.batching.errors import UpstreamDrift


def test_installed_faust_matches_the_pinned_internals():
    assert faust.__version__ == upstream.FAUST_VERSION
    changed = upstream.check_upstream()
    assert changed == [], (
        f"Faust internals changed: {changed}. Review them against streams/batching/consumer.py, "
        f"then refresh PINNED with `python -m streams.batching.upstream`.")


def test_every_method_the_consumer_overrides_is_pinned():
    overridden = {name for name, value in vars(BatchConsumer).items()
                  if callable(value) and not name.startswith("__")}
    upstream_names = {key.split(".")[-1] for key in upstream.PINNED}
    ours_only = {"ack_range", "offset_view", "_ensure_lanes", "_on_handler_failure", "_drop",
                 "_deliver_per_message", "_owned_now"}
    assert overridden - ours_only <= upstream_names


def test_a_changed_function_is_named(monkeypatch):
    name = "faust.transport.consumer:Consumer._drain_messages"
    pins = dict(upstream.PINNED)
    pins[name] = "0" * 16
    assert upstream.check_upstream(pins) == [name]
    monkeypatch.setattr(upstream, "PINNED", pins)
    with pytest.raises(UpstreamDrift, match="Consumer._drain_messages"):
        upstream.require_upstream()


def test_a_missing_function_counts_as_changed():
    assert upstream.check_upstream({"faust.transport.consumer:Consumer._no_such_method": "x"}) == [
        "faust.transport.consumer:Consumer._no_such_method"]


def test_the_hash_follows_the_source():
    def one():
        return 1

    def two():
        return 2

    assert upstream.source_hash(one) != upstream.source_hash(two)
