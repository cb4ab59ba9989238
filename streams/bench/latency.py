"""Event-to-firing latency: when each firing became due, and when it reached the firings topic.

A firing is due once the worker has read the event that makes it so: for a
count-style trigger the account's own event at ``fired_at``; for an absence or
silence deadline the first event on the account's partition that lifts the
partition's watermark (highest event time − allowed lateness) to ``fired_at``.
``due_index`` finds the earliest produced event satisfying either, which is the
earliest moment the firing could possibly be published, so the latency measured
from that event's produce time never flatters the worker.

The paced load comes from a separate process (``python -m streams.bench.latency``,
:func:`run_paced_producer`), so the producer competes neither with the
listener nor with the benchmark's own bookkeeping; it notes each record's
partition, offset and create time (stamped by librdkafka when ``produce`` is
called) and nothing else, and the events are read back from the records file
afterwards (:func:`read_producer_log`).
"""

from __future__ import annotations

import argparse
import bisect
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from schemas.timefmt import parse_rfc3339
from streams.producer import RecordProducer
from streams.settings import Settings

__all__ = ["PartitionLog", "TimedProducer", "FiringsListener", "due_index", "percentile", "write_records",
           "run_paced_producer", "read_producer_log"]


@dataclass
class PartitionLog:
    """The events produced to one partition, in offset order: produce time, account, event time."""

    sent_at: list[float] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    running_max: list[int] = field(default_factory=list)
    by_account: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)

    def add(self, sent_at: float, account: str, ts: int) -> None:
        i = len(self.ts)
        self.sent_at.append(sent_at)
        self.accounts.append(account)
        self.ts.append(ts)
        self.running_max.append(max(ts, self.running_max[-1]) if self.running_max else ts)
        idx, tss = self.by_account.setdefault(account, ([], []))
        idx.append(i)
        tss.append(ts)


def due_index(log: PartitionLog, account: str, fired_at_us: int, lateness_us: int) -> int | None:
    """Index of the first event after which a firing of ``account`` at ``fired_at_us`` can be due.

    >>> log = PartitionLog()
    >>> for t, (acct, ts) in enumerate([("a", 100), ("b", 150), ("a", 400), ("b", 900)]):
    ...     log.add(float(t), acct, ts)
    >>> due_index(log, "a", 400, lateness_us=300)   # a's own event at 400
    2
    >>> due_index(log, "b", 500, lateness_us=300)   # a deadline: watermark 900 - 300 passes 500
    3
    >>> due_index(log, "b", 5000, lateness_us=300) is None
    True
    """
    candidates = []
    w = bisect.bisect_left(log.running_max, fired_at_us + lateness_us)
    if w < len(log.running_max):
        candidates.append(w)
    own = log.by_account.get(account)
    if own is not None:
        idx, tss = own
        # the account's events are not sorted by time (out-of-order noise): take the first at or after
        first = next((i for i, ts in zip(idx, tss) if ts >= fired_at_us), None)
        if first is not None:
            candidates.append(first)
    return min(candidates) if candidates else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100).

    >>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 99), percentile([], 50) is None
    (5.0, True)
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


class TimedProducer(RecordProducer):
    """A ``RecordProducer`` that also notes, per partition, when each event was handed to ``produce``.

    The delivery report carries the partition and the record's create timestamp,
    which librdkafka stamps when ``produce`` is called (milliseconds).
    """

    def __init__(self, settings: Settings, **overrides: object):
        super().__init__(settings, **overrides)
        self.logs: dict[int, PartitionLog] = {}

    def _on_delivery(self, err, msg) -> None:
        super()._on_delivery(err, msg)
        if err is not None:
            return
        kind, stamp_ms = msg.timestamp()
        sent_at = stamp_ms / 1000 if kind and stamp_ms > 0 else time.time() - (msg.latency() or 0.0)
        try:
            obj = orjson.loads(msg.value())
            account, ts = obj["account_id"], parse_rfc3339(obj["occurred_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return  # malformed noise: it makes nothing due
        self.logs.setdefault(msg.partition(), PartitionLog()).add(sent_at, account, ts)


class FiringsListener:
    """Reads a firings topic in a thread, noting each firing's arrival time."""

    def __init__(self, settings: Settings, topic: str, partitions: list[int]):
        self._consumer = Consumer(settings.confluent_config(**{
            "group.id": f"forewarn-bench-firings-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
            "fetch.wait.max.ms": 5, "log_level": 3,
        }))
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self.arrivals: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "FiringsListener":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for m in self._consumer.consume(1000, timeout=0.05):
                if m.error() is None and m.value():
                    self.arrivals.append((time.time(), orjson.loads(m.value())))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


# -- the paced producer, in its own process -------------------------------------------------

def write_records(records: Iterable[tuple[bytes, bytes]], path: Path) -> None:
    """(key, value) records as ``key TAB value`` lines (keys are account ids, values one-line JSON; no key: empty)."""
    with open(path, "wb") as fh:
        for key, value in records:
            key = key or b""
            if b"\t" in key or b"\n" in key or b"\n" in value:
                raise ValueError(f"record with key {key!r} cannot be written as one line")
            fh.write(key + b"\t" + value + b"\n")


def _read_records(path: Path) -> list[tuple[bytes | None, bytes]]:
    out: list[tuple[bytes | None, bytes]] = []
    with open(path, "rb") as fh:
        for line in fh:
            key, value = line[:-1].split(b"\t", 1)
            out.append((key or None, value))
    return out


def _paced(records: list[tuple[bytes, bytes]], rate: float) -> Iterator[tuple[int, bytes, bytes]]:
    """(index, key, value) at ``rate`` per second from the first, in steps of a millisecond's worth."""
    step = max(1, int(rate // 1000))
    started = time.monotonic()
    for i, (key, value) in enumerate(records):
        if i % step == 0:
            ahead = i / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        yield i, key, value


def run_paced_producer(settings: Settings, topic: str, records_path: Path, start: int, stop: int, rate: float,
                       log_path: Path, linger_ms: float = 1.0) -> dict[str, float]:
    """Produce records ``[start, stop)`` of the file at ``rate``; write (index, partition, offset, create ms).

    ``linger_ms``: how long the producer may hold records to batch them (a record batch is what the
    worker's consumer hands on as one chunk when it keeps up).
    """
    records = _read_records(records_path)[start:stop]
    index, partition, offset, created = array("q"), array("q"), array("q"), array("q")

    def delivered(err, msg, i) -> None:
        if err is not None:
            raise RuntimeError(f"record {i} not delivered: {err.str()}")
        kind, stamp_ms = msg.timestamp()
        index.append(start + i)
        partition.append(msg.partition())
        offset.append(msg.offset())
        created.append(stamp_ms if kind and stamp_ms > 0 else int(time.time() * 1000))

    producer = RecordProducer(settings, **{"linger.ms": linger_ms})._producer
    began = time.time()
    for i, key, value in _paced(records, rate):
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=lambda err, msg, i=i: delivered(err, msg, i))
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    produced_by = time.time()
    if producer.flush(60) != 0:
        raise RuntimeError("paced producer: records still undelivered after 60 s")
    with open(log_path, "wb") as fh:
        for column in (index, partition, offset, created):
            fh.write(len(column).to_bytes(8, "little") + column.tobytes())
    return {"produced": len(records), "seconds": produced_by - began, "rate": len(records) / max(produced_by - began, 1e-9)}


def read_producer_log(log_paths: Iterable[Path], records_path: Path) -> dict[int, PartitionLog]:
    """The per-partition logs (offset order) of one or more producer runs over the same records file."""
    records = _read_records(records_path)
    rows = []
    for path in log_paths:
        data = Path(path).read_bytes()
        columns, at = [], 0
        for _ in range(4):
            n = int.from_bytes(data[at:at + 8], "little")
            col = array("q")
            col.frombytes(data[at + 8:at + 8 + 8 * n])
            columns.append(col)
            at += 8 + 8 * n
        rows.extend(zip(*columns))
    logs: dict[int, PartitionLog] = {}
    for i, p, _offset, created_ms in sorted(rows, key=lambda r: (r[1], r[2])):
        try:
            obj = orjson.loads(records[i][1])
            account, ts = obj["account_id"], parse_rfc3339(obj["occurred_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # malformed noise: it makes nothing due
        logs.setdefault(p, PartitionLog()).add(created_ms / 1000, account, ts)
    return logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Paced producer for forewarn bench pipeline's latency probe.")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--stop", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--linger-ms", type=float, default=1.0)
    args = parser.parse_args(argv)
    summary = run_paced_producer(Settings(), args.topic, args.records, args.start, args.stop, args.rate, args.log,
                                 args.linger_ms)
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
