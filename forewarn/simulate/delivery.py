"""Delivery of one simulated day: serialisation, noise, and the order messages arrive in.

Real pipelines see redeliveries, messages overtaken by later ones and the odd
broken message. Each is an option (``NoiseOptions``) and each is counted, so a
test or a backtest can check that it saw exactly what was injected:

* a *delayed* event arrives up to ``lateness − 1 s`` after its ``occurred_at``
  would have placed it, so later events overtake it; no event ever arrives after
  an event whose ``occurred_at`` is ``lateness`` or more ahead of its own, so none
  is late for a watermark of "largest ``occurred_at`` seen minus the lateness";
* a *duplicate* is the same bytes again (same ``event_id``), delivered after the
  original and within the same bound;
* a *malformed* line breaks the contract in one of ``MALFORMED_REASONS`` (the
  reason ``schemas.event.parse_event`` gives it); it has its own ``event_id``.

Delivery stays inside the day, so a day's batch is complete when it is handed over.

>>> from forewarn.simulate.config import NoiseOptions
>>> from forewarn.simulate.timeline import Calendar
>>> cal = Calendar("2026-01-01", 1)
>>> noise = DeliveryNoise(NoiseOptions(duplicate_share=1.0, out_of_order_share=0, malformed_share=0), 1, cal)
>>> raw = [(cal.start_us + 3_600_000_000, "a.1", "a", b"a", "session.started", None, None)]
>>> [value for _, value in noise.deliver(0, raw)]  # doctest: +NORMALIZE_WHITESPACE
[b'{"event_id":"a.1","account_id":"a","type":"session.started","occurred_at":"2026-01-01T01:00:00Z"}',
 b'{"event_id":"a.1","account_id":"a","type":"session.started","occurred_at":"2026-01-01T01:00:00Z"}']
>>> noise.counts.duplicate_lines
1
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from random import Random

import orjson

from forewarn.simulate.config import NoiseOptions
from forewarn.simulate.timeline import Calendar
from schemas.timefmt import US_PER_DAY, US_PER_SECOND

__all__ = ["DeliveryNoise", "DeliveryCounts", "MALFORMED_REASONS"]

MALFORMED_REASONS = (
    "invalid_json",
    "not_an_object",
    "missing_field",
    "naive_timestamp",
    "invalid_timestamp",
    "invalid_field",
    "unknown_field",
)


@dataclass
class DeliveryCounts:
    """What delivery did so far, summed over days."""

    events: int = 0
    duplicate_lines: int = 0
    delayed_events: int = 0
    out_of_order_lines: int = 0
    malformed_lines: int = 0
    malformed_by_reason: dict[str, int] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=dict)
    max_occurred_at: int | None = None

    @property
    def lines(self) -> int:
        return self.events + self.duplicate_lines + self.malformed_lines


def _malformed(value: bytes, reason: str) -> bytes:
    """A line derived from a valid event that ``parse_event`` refuses for ``reason``."""
    if reason == "invalid_json":
        return value[: len(value) // 2]
    body = orjson.loads(value)
    broken = dict(body, event_id=body["event_id"] + "~malformed")
    if reason == "not_an_object":
        return orjson.dumps([broken])
    if reason == "missing_field":
        del broken["occurred_at"]
    elif reason == "naive_timestamp":
        broken["occurred_at"] = body["occurred_at"].rstrip("Z")
    elif reason == "invalid_timestamp":
        broken["occurred_at"] = body["occurred_at"][:11] + "25" + body["occurred_at"][13:]
    elif reason == "invalid_field":
        broken["type"] = "Feature Used"
    else:
        broken["colour"] = "teal"
    return orjson.dumps(broken)


class DeliveryNoise:
    """Turns a day's raw events into ``(key, value)`` records in arrival order, with noise.

    Noise draws come from a stream of their own per day, so they never disturb
    the customers' behaviour.
    """

    def __init__(self, options: NoiseOptions, seed: int, calendar: Calendar, features: Iterable[str] = ()):
        self.options = options
        self.seed = seed
        self.calendar = calendar
        self.counts = DeliveryCounts()
        dup, bad = options.duplicate_share, options.malformed_share
        # Malformed lines are a share of all lines, valid copies included.
        self._bad_per_event = bad * (1 + dup) / (1 - bad)
        self._feature_json = {name: orjson.dumps({"feature": name}).decode() for name in features}

    def deliver(self, day: int, raw: list) -> list[tuple[bytes, bytes]]:
        """Records of one day's raw events (see ``account.RawEvent``) in arrival order."""
        opts = self.options
        counts = self.counts
        rng = Random(f"{self.seed}:delivery:{day}")
        random = rng.random
        start = self.calendar.day_start(day)
        end = start + US_PER_DAY
        prefix = self.calendar.rfc3339(start)[:11]
        clock = self.calendar.clock
        max_delay_s = opts.lateness_seconds - 1
        p_late, p_dup, p_bad = opts.out_of_order_share, opts.duplicate_share, self._bad_per_event
        feature_json = self._feature_json
        by_type = counts.events_by_type
        bad_reasons = counts.malformed_by_reason
        entries = []
        append = entries.append
        seq = 0
        delayed = dups = bads = 0
        latest = counts.max_occurred_at
        for ts, eid, acct, key, kind, user, props in raw:
            offset = ts - start
            if 0 <= offset < US_PER_DAY and not offset % US_PER_SECOND:
                stamp = prefix + clock[offset // US_PER_SECOND]
            else:
                stamp = self.calendar.rfc3339(ts)
            # Built as text, not with orjson.dumps: keeping millions of orjson outputs alive
            # costs ~5 us each in allocation, ten times the whole line. Every interpolated
            # string is an identifier, type or timestamp the simulator made from [a-z0-9._:-],
            # and properties come from orjson; a test re-parses every line.
            if props is None:
                text = None
            else:
                text = feature_json.get(props.get("feature")) if len(props) == 1 else None
                if text is None:
                    text = orjson.dumps(props).decode()
            if user is None:
                if text is None:
                    line = f'{{"event_id":"{eid}","account_id":"{acct}","type":"{kind}","occurred_at":"{stamp}"}}'
                else:
                    line = (f'{{"event_id":"{eid}","account_id":"{acct}","type":"{kind}","occurred_at":"{stamp}",'
                            f'"properties":{text}}}')
            elif text is None:
                line = (f'{{"event_id":"{eid}","account_id":"{acct}","type":"{kind}","occurred_at":"{stamp}",'
                        f'"user_id":"{user}"}}')
            else:
                line = (f'{{"event_id":"{eid}","account_id":"{acct}","type":"{kind}","occurred_at":"{stamp}",'
                        f'"user_id":"{user}","properties":{text}}}')
            value = line.encode()
            by_type[kind] = by_type.get(kind, 0) + 1
            if latest is None or ts > latest:
                latest = ts
            # Delays stay below the lateness and inside the day.
            room_s = min(max_delay_s, (end - ts) // US_PER_SECOND - 1)
            delay_s = 0
            if p_late and random() < p_late and room_s >= 1:
                delay_s = 1 + int(random() * room_s)
                delayed += 1
            seq += 1
            append((ts + delay_s * US_PER_SECOND, seq, ts, key, value))
            if p_dup and random() < p_dup:
                again_s = delay_s + int(random() * (max(room_s, delay_s) - delay_s + 1))
                seq += 1
                append((ts + again_s * US_PER_SECOND, seq, ts, key, value))
                dups += 1
            if p_bad and random() < p_bad:
                reason = MALFORMED_REASONS[int(random() * len(MALFORMED_REASONS))]
                bad_reasons[reason] = bad_reasons.get(reason, 0) + 1
                seq += 1
                append((ts, seq, None, key, _malformed(value, reason)))
                bads += 1
        entries.sort()
        out_of_order = 0
        running_max = counts.max_occurred_at
        records = []
        append = records.append
        for _, _, ts, key, value in entries:
            if ts is not None:
                if running_max is not None and ts < running_max:
                    out_of_order += 1
                else:
                    running_max = ts
            append((key, value))
        counts.events += len(raw)
        counts.delayed_events += delayed
        counts.duplicate_lines += dups
        counts.malformed_lines += bads
        counts.out_of_order_lines += out_of_order
        counts.max_occurred_at = latest
        return records
