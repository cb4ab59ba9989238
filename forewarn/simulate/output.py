"""Where simulated records go: an ``EventSink``, optionally paced to a target rate.

An ``EventSink`` is any callable that takes an iterable of ``(key, value)`` byte
pairs — one simulated day at a time, key = ``account_id``, value = the JSON line
without its newline. ``FileSink`` writes JSON Lines. A Kafka sink is one line
over ``streams.producer.RecordProducer``::

    sink = lambda records: producer.produce_many(settings.topics.usage_events, records)

so the ``--to-kafka`` output plugs in here without touching the simulator.

``StagedOutput`` puts ``events.jsonl`` and ``truth/`` of a run in place only when
the run succeeded: until then both are written under a temporary directory in
the output directory, and a failed or interrupted run leaves the previous files
as they were.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

from forewarn.simulate.config import SimulationConfig
from forewarn.simulate.errors import SimulationConfigError, SimulationError
from forewarn.simulate.feedback import Outreach, read_commands
from forewarn.simulate.simulation import DayBatch, Simulation
from forewarn.simulate.truth import TRUTH_FILES, Truth

__all__ = ["EventSink", "FileSink", "Pacer", "StagedOutput", "check_out_dir", "run_simulation", "simulate_to_dir",
           "written_by_simulate"]

EventSink = Callable[[Iterable[tuple[bytes, bytes]]], object]


class FileSink:
    """Writes each record's value as one line to a binary file (or path, opened for writing).

    >>> import io
    >>> buf = io.BytesIO()
    >>> sink = FileSink(buf)
    >>> sink([(b"a", b'{"x":1}'), (b"a", b'{"x":2}')])
    >>> buf.getvalue(), sink.lines
    (b'{"x":1}\\n{"x":2}\\n', 2)
    """

    def __init__(self, target: Path | BinaryIO):
        self._owned = isinstance(target, (str, Path))
        self._fh: BinaryIO = open(target, "wb") if self._owned else target  # noqa: SIM115
        self.lines = 0

    def __call__(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        values = [value for _, value in records]
        if values:
            self._fh.write(b"\n".join(values))
            self._fh.write(b"\n")
            self.lines += len(values)

    def close(self) -> None:
        if self._owned:
            self._fh.close()

    def __enter__(self) -> "FileSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Pacer:
    """Holds a stream of records to at most ``rate`` per second, measured from the first record.

    >>> now = [0.0]
    >>> p = Pacer(rate=10, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    >>> len(list(p.paced([(b"k", b"v")] * 25))), round(now[0], 2)  # the 25th record leaves at 2.4 s
    (25, 2.4)
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not rate > 0:
            raise SimulationConfigError(f"rate={rate}: a cap on records per second is > 0")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._started: float | None = None
        self.sent = 0
        self._chunk = max(1, int(rate // 50))  # sleep at most ~50 times a second

    def paced(self, records: Iterable[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
        if self._started is None:
            self._started = self._clock()
        for record in records:
            if self.sent % self._chunk == 0:
                ahead = self.sent / self.rate - (self._clock() - self._started)
                if ahead > 0:
                    self._sleep(ahead)
            self.sent += 1
            yield record


def check_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` if needed; refuse, in one line, a place where a run's files cannot go, or whose
    ``events.jsonl`` or truth files a run would replace but no run wrote (:func:`written_by_simulate`)."""
    for path in (out_dir, out_dir / "truth"):
        if path.exists() and not path.is_dir():
            raise SimulationError(f"{path} exists and is not a directory; give --out a directory "
                                  "(new, or one an earlier run wrote)")
    if (out_dir / "events.jsonl").is_dir():
        raise SimulationError(f"{out_dir / 'events.jsonl'} is a directory; give --out a directory whose "
                              "events.jsonl can be replaced")
    replaced = [path for path in (out_dir / "events.jsonl", *(out_dir / "truth" / name for name in TRUTH_FILES))
                if path.exists()]
    if replaced and not written_by_simulate(out_dir):
        raise SimulationError(f"{replaced[0]} would be replaced, but forewarn simulate did not write it (no "
                              "truth/summary.json of a run counting its lines); give --out a new or empty "
                              "directory, or one an earlier run wrote")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimulationError(f"{out_dir}: cannot write the simulation there ({exc.strerror}); "
                              "give --out a writable directory") from None


def written_by_simulate(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a run's output: ``truth/summary.json`` of a run, and an ``events.jsonl``
    with as many lines as that run wrote (or none: a run stopped while putting its files in place).

    Nothing else is replaced without asking: ``--out`` on a directory of real events overwrote them.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = (out / "events.jsonl").write_bytes(b'{"event_id": "mine"}\\n')
    >>> written_by_simulate(out)
    False
    >>> (out / "truth").mkdir()
    >>> _ = (out / "truth" / "summary.json").write_bytes(b'{"noise": {"lines": 1}}')
    >>> written_by_simulate(out)
    True
    """
    try:
        lines = orjson.loads((out_dir / "truth" / "summary.json").read_bytes())["noise"]["lines"]
    except (OSError, ValueError, KeyError, TypeError):  # none, not JSON, not a run's summary
        return False
    if not isinstance(lines, int):
        return False
    try:
        with open(out_dir / "events.jsonl", "rb") as fh:
            counted = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return counted == lines


class StagedOutput:
    """``out_dir/events.jsonl`` and ``out_dir/truth/`` of one run, put in place together at ``publish``.

    The run writes ``self.events`` and ``self.truth``, both inside a hidden
    ``.simulate-*.tmp`` directory of ``out_dir`` (same file system, so a rename
    moves them). ``publish`` first removes the old ``events.jsonl``, then
    renames the truth files into ``truth/`` and the events last: a reader sees
    the old pair, no events at all, or the new pair, never a mixed one. Leaving
    the ``with`` block without ``publish`` (an error, an interrupt) removes the
    temporary directory and leaves the previous files untouched.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> with StagedOutput(out) as staged:
    ...     _ = staged.events.write_bytes(b"{}\\n")
    >>> sorted(p.name for p in out.iterdir())  # not published: nothing left behind
    []
    """

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self._final_events = out_dir / "events.jsonl"
        self._final_truth = out_dir / "truth"
        check_out_dir(out_dir)
        try:
            self.staging = Path(tempfile.mkdtemp(prefix=".simulate-", suffix=".tmp", dir=out_dir))
        except OSError as exc:
            raise SimulationError(f"{out_dir}: cannot write the simulation there ({exc.strerror}); "
                                  "give --out a writable directory") from None
        self.events = self.staging / "events.jsonl"
        self.truth = self.staging / "truth"
        self.published = False

    def publish(self) -> None:
        """Move the run's truth files, then its events, into place (see the class)."""
        try:
            self._final_truth.mkdir(exist_ok=True)
            self._final_events.unlink(missing_ok=True)
            # summary.json first: a publish stopped half way (Ctrl-C, a kill) leaves truth files beside the
            # summary of the run that wrote them, and no events.jsonl, which a re-run recognises as its own
            # (written_by_simulate); readers wait for events.jsonl, moved last, so they never see a mix.
            for name in sorted(TRUTH_FILES, key=lambda n: n != "summary.json"):
                os.replace(self.truth / name, self._final_truth / name)
            os.replace(self.events, self._final_events)
        except OSError as exc:
            raise SimulationError(f"{self.out_dir}: cannot put the run's files in place ({exc}); "
                                  "the previous events.jsonl may be gone: run again") from None
        self.published = True
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> "StagedOutput":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.published:
            shutil.rmtree(self.staging, ignore_errors=True)


def run_simulation(
    sim: Simulation,
    sink: EventSink,
    commands: Iterable[Outreach | dict] | None = None,
    rate: float | None = None,
    on_day: Callable[[DayBatch], None] | None = None,
) -> Truth:
    """Step ``sim`` to its last day, handing each day's records to ``sink``; returns the truth.

    ``commands`` (e.g. from a file) are fed before the first day and take effect
    on their ``decided_at``; ``rate`` caps records per second (None: as fast as possible).
    """
    if commands is not None:
        sim.feed(commands)
    pacer = Pacer(rate) if rate else None
    while not sim.done:
        batch = sim.step()
        sink(pacer.paced(batch.records) if pacer else batch.records)
        if on_day is not None:
            on_day(batch)
    return sim.truth()


def simulate_to_dir(
    config: SimulationConfig,
    out_dir: Path,
    commands_path: Path | None = None,
    rate: float | None = None,
    on_day: Callable[[DayBatch], None] | None = None,
) -> Truth:
    """Write ``out_dir/events.jsonl`` and ``out_dir/truth/`` for one simulation.

    The commands are read and checked before anything is written; the files
    replace earlier ones only when the run succeeds (``StagedOutput``).
    """
    commands = list(read_commands(commands_path)) if commands_path is not None else None
    sim = Simulation(config)
    with StagedOutput(out_dir) as staged:
        with FileSink(staged.events) as sink:
            truth = run_simulation(sim, sink, commands, rate, on_day)
        truth.write(staged.truth)
        staged.publish()
    return truth
