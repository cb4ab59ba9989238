"""The ``usage_drop`` triggers of a config over a stream of events: one detector per trigger and partition.

The rule engine folds per account, on a shared store, and its primitives keep
no partition-wide state; the drop-off model is one model *per partition*
(a learned threshold, a River model) that closes each UTC day for every
account of the partition at once. So it runs beside the engine rather than
inside it: this runner routes each event to its partition the way the
producers key it — account id as the Kafka key, librdkafka's default
partitioner for keyed messages (CRC-32 of the key modulo the partition
count) — and feeds that partition's detectors in arrival order. The embedded
runtime (``forewarn backtest``) and any other caller see the same detectors,
fed the same way, so they fire the same ``usage_drop`` firings as long as
they use the live topic's partition count.

>>> from schemas.event import Event
>>> from detectors.online.usage_drop import UsageDrop
>>> runner = UsageDropRunner([UsageDrop("usage_drop")], allowed_lateness_us=0, partitions=4)
>>> runner.process([Event("e1", "acct-1", "session.started", 0, "u1")])
[]
>>> sorted(runner.detectors), partition_of("acct-1", 4)
([('usage_drop', 0), ('usage_drop', 1), ('usage_drop', 2), ('usage_drop', 3)], 1)
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from detectors.online.detector import DropOffDetector
from detectors.online.usage_drop import UsageDrop
from schemas.event import Event, parse_event
from schemas.firing import Firing, firing_sort_key

__all__ = ["UsageDropRunner", "partition_of", "DEFAULT_PARTITIONS"]

#: The usage-events topic's default partition count (``streams.settings.Topics.partitions``).
DEFAULT_PARTITIONS = 4


def partition_of(account_id: str, partitions: int) -> int:
    """The partition a message keyed by ``account_id`` lands on with librdkafka's default partitioner."""
    return zlib.crc32(account_id.encode("utf-8", "surrogatepass")) % partitions


class UsageDropRunner:
    """Every ``usage_drop`` trigger over every partition; see the module docstring."""

    def __init__(self, specs: Sequence[UsageDrop], *, allowed_lateness_us: int,
                 partitions: int = DEFAULT_PARTITIONS) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.specs = list(specs)
        self.partitions = partitions
        self.allowed_lateness_us = allowed_lateness_us
        self.detectors: dict[tuple[str, int], DropOffDetector] = {
            (spec.name, p): spec.build(allowed_lateness_us=allowed_lateness_us)
            for spec in self.specs for p in range(partitions)
        }
        self._by_partition: list[list[DropOffDetector]] = [
            [self.detectors[(spec.name, p)] for spec in self.specs] for p in range(partitions)
        ]
        #: Lines ``process_lines`` could not parse, by reason (the engine counts them too).
        self.skipped: dict[str, int] = {}
        #: ``partition_of`` by account id, remembered: a dict look-up costs a third of the CRC-32.
        self._partitions_of: dict[str, int] = {}

    @classmethod
    def from_config(cls, config: Any, partitions: int = DEFAULT_PARTITIONS) -> "UsageDropRunner | None":
        """A runner for the config's ``usage_drop`` triggers, or None when it has none."""
        specs = [t.rule for t in config.triggers.values() if isinstance(t.rule, UsageDrop)]
        if not specs:
            return None
        return cls(specs, allowed_lateness_us=config.engine.allowed_lateness_us, partitions=partitions)

    def process(self, events: Iterable[Event]) -> list[Firing]:
        """Route events (arrival order) to their partitions; the firings that became due, sorted."""
        buckets: list[list[Event]] = [[] for _ in range(self.partitions)]
        n = self.partitions
        if n == 1:
            buckets[0].extend(events)
        else:
            known = self._partitions_of
            for ev in events:
                p = known.get(ev.account_id)
                if p is None:
                    p = known[ev.account_id] = partition_of(ev.account_id, n)
                buckets[p].append(ev)
        out: list[Firing] = []
        for p, bucket in enumerate(buckets):
            if bucket:
                for det in self._by_partition[p]:
                    out.extend(det.process(bucket))
        out.sort(key=firing_sort_key)
        return out

    def process_lines(self, lines: Iterable[bytes], until_us: int | None = None) -> list[Firing]:
        """:meth:`process` on raw JSON lines; malformed lines and events after ``until_us`` are skipped."""
        events = []
        skipped = self.skipped
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            ev = parse_event(line)
            if not isinstance(ev, Event):
                skipped[ev.reason] = skipped.get(ev.reason, 0) + 1
            elif until_us is None or ev.ts <= until_us:
                events.append(ev)
        return self.process(events)

    def advance_to(self, until_us: int) -> list[Firing]:
        """Every partition's watermark to ``until_us`` + 1 µs: every day ending by then is scored."""
        out = [f for dets in self._by_partition for det in dets for f in det.advance_to(until_us)]
        out.sort(key=firing_sort_key)
        return out
