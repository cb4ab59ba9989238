"""``forewarn backtest EVENTS.jsonl --out firings.jsonl``: the engine over a file, no Kafka, no Redis.

The embedded runtime of DESIGN.md: the same :class:`detectors.engine.Engine`
the live worker runs, on an in-memory store and one logical partition, so a
user can try a trigger on last quarter's events before turning it on.
Malformed lines are skipped and counted by reason, never fatal. At the end
the watermark moves to ``--until`` (default: the largest ``occurred_at`` read),
so every firing at or before it is decided; events after ``--until`` are
skipped. Output: JSON Lines sorted by (fired_at, account_id, trigger).

Parsing is the larger half of the cost, so lines in the common shape take a
lean path (one ``orjson.loads``, the contract's checks, UTC timestamps from a
per-day cache) that yields exactly what ``schemas.event.parse_event`` would;
anything else — offsets, CloudEvents, errors — goes through ``parse_event``
itself, which also names the reason a line is refused.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from detectors.config import ForewarnConfig
from streams.config import load_config
from detectors.engine import Engine, Row
from detectors.memory_store import MemoryStore
from detectors.online.runner import UsageDropRunner
from schemas.errors import ForewarnError
from schemas.event import EVENT_TYPE_PATTERN, MAX_EVENT_BYTES, Event, parse_event
from schemas.firing import Firing, firing_sort_key
from schemas.timefmt import US_PER_SECOND, format_rfc3339, parse_rfc3339

__all__ = ["register", "run_backtest", "BacktestReport", "BacktestError", "fast_row"]

_PARTITION = 0
_CHUNK_BYTES = 4 << 20
_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)
_OPTIONAL = ("user_id", "properties")
_CACHE_LIMIT = 4096


class BacktestError(ForewarnError):
    """A backtest that cannot start: missing input, unwritable output, bad --until."""


_valid_types: dict[str, bool] = {}
_minute_us: dict[str, int | None] = {}
_UNSEEN = object()


def _type_ok(kind: str) -> bool:
    ok = _TYPE_RE.match(kind) is not None and not kind.endswith("\n")
    if len(_valid_types) >= _CACHE_LIMIT:
        _valid_types.clear()
    _valid_types[kind] = ok
    return ok


def _minute(prefix: str) -> int | None:
    """µs of ``YYYY-MM-DDTHH:MM:`` (validated by parse_rfc3339 itself), or None when it is not a valid minute."""
    try:
        us: int | None = parse_rfc3339(prefix + "00Z")
    except ValueError:
        us = None
    if len(_minute_us) >= 64 * _CACHE_LIMIT:
        _minute_us.clear()
    _minute_us[prefix] = us
    return us


def _utc_stamp(stamp: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z`` to µs, the minute parsed (and cached) by parse_rfc3339; else None."""
    n = len(stamp)
    if n < 20 or n > 27 or stamp[-1] != "Z" or stamp[16] != ":":
        return None
    prefix = stamp[:17]
    base = _minute_us.get(prefix, _UNSEEN)
    if base is _UNSEEN:
        base = _minute(prefix)
    secs = stamp[17:19]
    if base is None or not (secs.isascii() and secs.isdigit()) or secs > "59":
        return None
    us = base + int(secs) * US_PER_SECOND
    if n == 20:
        return us
    frac = stamp[20:-1]
    if stamp[19] != "." or not (frac.isascii() and frac.isdigit()):
        return None
    return us + int(frac.ljust(6, "0"))


def fast_row(line: bytes) -> Row | None:
    """The engine row of a line in the common shape, or None: then ask ``parse_event`` (never wrong, only slower).

    >>> fast_row(b'{"event_id":"e1","account_id":"a1","type":"feature.used",'
    ...          b'"occurred_at":"2026-01-05T10:00:00.5Z","properties":{"feature":"reports"}}')
    ('e1', 'a1', 'feature.used', 1767607200500000, {'feature': 'reports'})
    >>> fast_row(b'{"event_id":"e1","account_id":"a1","type":"x","occurred_at":"2026-01-05T10:00:00+01:00"}') is None
    True
    """
    if len(line) > MAX_EVENT_BYTES:
        return None
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if obj.__class__ is not dict:
        return None
    n = len(obj)
    if n < 4 or n > 6:
        return None
    get = obj.get
    eid = get("event_id")
    aid = get("account_id")
    kind = get("type")
    stamp = get("occurred_at")
    if (eid.__class__ is not str or aid.__class__ is not str or kind.__class__ is not str
            or stamp.__class__ is not str or not 0 < len(eid) <= 128 or not 0 < len(aid) <= 128):
        return None
    props: Any = {}
    if n > 4:
        has_props = "properties" in obj
        if ("user_id" in obj) + has_props != n - 4:
            return None
        user = get("user_id")
        if user is not None and user.__class__ is not str:
            return None
        if has_props:
            props = obj["properties"]
            if props.__class__ is not dict:
                return None
    ok = _valid_types.get(kind)
    if ok is None:
        ok = _type_ok(kind)
    if not ok:
        return None
    ts = _utc_stamp(stamp)
    if ts is None:
        return None
    return (eid, aid, kind, ts, props)


@dataclass
class BacktestReport:
    """What a backtest read, skipped, dropped and fired."""

    lines: int = 0
    events: int = 0
    skipped: Counter = field(default_factory=Counter)
    duplicates: int = 0
    firings: list[Firing] = field(default_factory=list)
    until_us: int | None = None
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def _read_chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[list[bytes], int]]:
    with path.open("rb") as fh:
        while True:
            lines = fh.readlines(chunk_bytes)
            if not lines:
                return
            yield lines, sum(len(line) for line in lines)


def run_backtest(
    events_path: Path,
    config: ForewarnConfig,
    *,
    until_us: int | None = None,
    chunk_bytes: int = _CHUNK_BYTES,
    progress: Progress | None = None,
) -> BacktestReport:
    """Run the engine over a JSON Lines file; firings come back sorted, at or before ``until``."""
    if not events_path.is_file():
        raise BacktestError(f"{events_path}: no such file; pass a JSON Lines file of usage events")
    engine = Engine.from_config(config)
    store = MemoryStore()
    report = BacktestReport(until_us=until_us)
    # usage_drop triggers are one model per partition, run beside the engine (detectors/online/runner.py)
    drops = UsageDropRunner.from_config(config)
    skipped = report.skipped
    task = progress.add_task("backtest", total=events_path.stat().st_size) if progress is not None else None
    started = time.perf_counter()
    max_ts = None
    for lines, size in _read_chunks(events_path, chunk_bytes):
        rows: list[Row] = []
        append = rows.append
        for line in lines:
            row = fast_row(line)  # JSON allows the trailing newline; only the slow path strips it
            if row is None:
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    skipped["blank_line"] += 1
                    continue
                parsed = parse_event(line)
                if not isinstance(parsed, Event):
                    skipped[parsed.reason] += 1
                    continue
                row = (parsed.event_id, parsed.account_id, parsed.type, parsed.ts, parsed.properties)
            if until_us is not None and row[3] > until_us:
                skipped["after_until"] += 1
                continue
            append(row)
        report.lines += len(lines)
        if drops is not None:
            report.firings += drops.process_lines(lines, until_us)
        if rows:
            result = engine.process_rows(_PARTITION, rows, store)
            report.firings += result.firings
            report.duplicates += result.duplicates
            report.events += result.accepted - result.duplicates
            if result.late:
                skipped["late"] += len(result.late)
            chunk_max = max(row[3] for row in rows)
            max_ts = chunk_max if max_ts is None or chunk_max > max_ts else max_ts
        if task is not None:
            progress.advance(task, size)
    end = until_us if until_us is not None else max_ts
    if end is not None:
        report.firings += engine.advance_to(_PARTITION, end, store).firings
        if drops is not None:
            report.firings += drops.advance_to(end)
        # advancing to `end` decides everything at or before it; an absence deadline 1 µs later is decided
        # too (nothing before it can still come) but lies after the requested end
        report.firings = [f for f in report.firings if f.fired_at <= end]
    report.until_us = end
    report.firings.sort(key=firing_sort_key)
    report.seconds = time.perf_counter() - started
    return report


def write_firings(firings: list[Firing], out: Path) -> None:
    """JSON Lines, one firing a line, in the order given."""
    try:
        with out.open("wb") as fh:
            for firing in firings:
                fh.write(orjson.dumps(firing.to_json()))
                fh.write(b"\n")
    except OSError as exc:
        raise BacktestError(f"{out}: cannot write the firings ({exc.strerror or exc})") from None


def _summary(report: BacktestReport, config: ForewarnConfig) -> tuple[Table, Table]:
    per = Table(title="Firings per trigger")
    per.add_column("trigger", overflow="fold")
    per.add_column("firings", justify="right")
    per.add_column("accounts", justify="right")
    per.add_column("first fired_at")
    per.add_column("last fired_at")
    by_trigger: dict[str, list[Firing]] = {name: [] for name in config.triggers}
    for firing in report.firings:
        by_trigger.setdefault(firing.trigger, []).append(firing)
    for name, firings in by_trigger.items():
        per.add_row(
            name,
            str(len(firings)),
            str(len({f.account_id for f in firings})),
            format_rfc3339(firings[0].fired_at) if firings else "-",
            format_rfc3339(firings[-1].fired_at) if firings else "-",
        )
    per.add_row("[bold]total[/]", f"[bold]{len(report.firings)}[/]", "", "", "")
    inp = Table(title="Input")
    inp.add_column("")
    inp.add_column("", justify="right")
    inp.add_row("lines read", f"{report.lines:,}")
    inp.add_row("events applied", f"{report.events:,}")
    inp.add_row("duplicates dropped", f"{report.duplicates:,}")
    for reason, count in sorted(report.skipped.items()):
        inp.add_row(f"skipped: {reason}", f"{count:,}")
    inp.add_row("until", format_rfc3339(report.until_us) if report.until_us is not None else "-")
    inp.add_row("elapsed", f"{report.seconds:.2f} s")
    inp.add_row("throughput", f"{report.events_per_second:,.0f} lines/s")
    return per, inp


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("backtest")
    def backtest(
        events: Path = typer.Argument(..., help="JSON Lines file of usage events (one event a line).",
                                      metavar="EVENTS.jsonl"),
        out: Path = typer.Option(..., "--out", help="Where to write the firings (JSON Lines)."),
        until: str = typer.Option(None, "--until", metavar="TS",
                                  help="RFC 3339 end of the replay; default: the largest occurred_at read."),
        config_path: Path = typer.Option(None, "--config", metavar="PATH",
                                         help="Trigger config; default: the settings' config_path."),
        show_progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    ) -> None:
        """Replay a file of events through the triggers, with no Kafka and no Redis."""
        console = Console()
        if config_path is None:
            from streams.settings import Settings

            config_path = Settings().config_path
        config = load_config(config_path)
        until_us = None
        if until is not None:
            try:
                until_us = parse_rfc3339(until)
            except ValueError as exc:
                raise BacktestError(f"--until {until!r}: {exc}; write e.g. 2026-04-01T00:00:00Z") from None
        if show_progress:
            columns = (TextColumn("[progress.description]{task.description}"), BarColumn(),
                       TransferSpeedColumn(), TimeRemainingColumn())
            with Progress(*columns, console=console, transient=True) as progress:
                report = run_backtest(events, config, until_us=until_us, progress=progress)
        else:
            report = run_backtest(events, config, until_us=until_us)
        write_firings(report.firings, out)
        per, inp = _summary(report, config)
        console.print(inp)
        console.print(per)
        console.print(f"wrote {len(report.firings)} firings to {escape(str(out))}")
