"""Reading a window of history from files: usage events (JSON Lines) with the contract's own parser.

The report reads the same events the pipeline consumed, so a malformed line
is skipped and counted by reason exactly as the dead-letter path would, and
never stops the report. Times outside ``[since, until)`` are the caller's to
filter: the event stream is read once, whatever the window.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
>>> _ = path.write_text('{"event_id":"e1","account_id":"a1","type":"session.started",'
...                     '"occurred_at":"2026-01-05T10:00:00Z"}\\nnot json\\n\\n')
>>> stats = EventFileStats()
>>> [e.type for e in read_events(path, stats)], stats.events, dict(stats.malformed)
(['session.started'], 1, {'invalid_json': 1})
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from interventions.measurement.errors import HistoryError
from schemas.event import Event, EventError, parse_event

__all__ = ["EventFileStats", "read_events", "parse_events"]


@dataclass
class EventFileStats:
    """What reading the events found: valid events, malformed lines by reason, the event-time span."""

    lines: int = 0
    events: int = 0
    malformed: Counter = field(default_factory=Counter)
    first_ts: int | None = None
    last_ts: int | None = None

    def note(self, event: Event) -> None:
        self.events += 1
        if self.first_ts is None or event.ts < self.first_ts:
            self.first_ts = event.ts
        if self.last_ts is None or event.ts > self.last_ts:
            self.last_ts = event.ts


def parse_events(raws: Iterable[bytes | str | None], stats: EventFileStats) -> Iterator[Event]:
    """Valid events of raw values (lines of a file or Kafka record values), counting the rest in ``stats``."""
    for raw in raws:
        stats.lines += 1
        parsed = parse_event(raw)
        if isinstance(parsed, EventError):
            stats.malformed[parsed.reason] += 1
            continue
        stats.note(parsed)
        yield parsed


def read_events(path: Path, stats: EventFileStats) -> Iterator[Event]:
    """Valid events of a JSON Lines file, in file order; blank lines are ignored."""
    try:
        fh = Path(path).open("rb")
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read events ({exc.strerror}); give usage events as JSON Lines") from None
    with fh:
        yield from parse_events((line for line in fh if line.strip()), stats)
