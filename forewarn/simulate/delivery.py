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
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate
from operator import lt
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
    """What delivery did so far, summed over days.

    >>> DeliveryCounts(events=10, duplicate_lines=1, malformed_lines=2).lines
    13
    """

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


def _bernoulli_indexes(rng: Random, n: int, p: float) -> list[int]:
    """Indexes in ``range(n)`` each chosen with probability ``p``, by geometric skips."""
    if p <= 0.0 or n == 0:
        return []
    if p >= 1.0:
        return list(range(n))
    log_q = math.log(1.0 - p)
    chosen = []
    i = -1
    while True:
        i += 1 + int(math.log(1.0 - rng.random()) / log_q)
        if i >= n:
            return chosen
        chosen.append(i)


class DeliveryNoise:
    """Turns a day's serialised events into ``(key, value)`` records in arrival order, with noise.

    Noise draws come from a stream of their own per day, so they never disturb
    the customers' behaviour. The per-event work is done in list comprehensions
    and one sort; only the few noisy events are touched one by one.

    >>> from forewarn.simulate.timeline import Calendar
    >>> cal = Calendar("2026-01-01", 1)
    >>> noise = DeliveryNoise(NoiseOptions(duplicate_share=1.0, out_of_order_share=0, malformed_share=0), 1, cal)
    >>> raw = [(cal.start_us + 3_600_000_000, b"a", b'{"event_id":"a.1"}', "session.started")]
    >>> noise.deliver(0, raw)
    [(b'a', b'{"event_id":"a.1"}'), (b'a', b'{"event_id":"a.1"}')]
    >>> noise.counts.duplicate_lines, noise.counts.events_by_type
    (1, {'session.started': 1})
    """

    def __init__(self, options: NoiseOptions, seed: int, calendar: Calendar):
        self.options = options
        self.seed = seed
        self.calendar = calendar
        self.counts = DeliveryCounts()
        dup, bad = options.duplicate_share, options.malformed_share
        # Malformed lines are a share of all lines, valid copies included.
        self._bad_per_event = bad * (1 + dup) / (1 - bad)

    def deliver(self, day: int, raw: list) -> list[tuple[bytes, bytes]]:
        """Records of one day's events ``(ts, key, line, type)`` in arrival order."""
        counts = self.counts
        if not raw:
            return []
        rng = Random(f"{self.seed}:delivery:{day}")
        end = self.calendar.day_start(day) + US_PER_DAY
        max_delay_s = self.options.lateness_seconds - 1
        n = len(raw)
        stamps = [e[0] for e in raw]  # occurred_at of every valid line, copies appended below
        arrival = stamps.copy()  # the sort key: when the line arrives
        pairs = [(e[1], e[2]) for e in raw]

        delays = {}
        for i in _bernoulli_indexes(rng, n, self.options.out_of_order_share):
            room_s = min(max_delay_s, (end - stamps[i]) // US_PER_SECOND - 1)  # below lateness, inside the day
            if room_s >= 1:
                delays[i] = 1 + int(rng.random() * room_s)
                arrival[i] += delays[i] * US_PER_SECOND
        duplicates = _bernoulli_indexes(rng, n, self.options.duplicate_share)
        for i in duplicates:
            ts, delay_s = stamps[i], delays.get(i, 0)
            room_s = max(delay_s, min(max_delay_s, (end - ts) // US_PER_SECOND - 1))
            arrival.append(ts + (delay_s + int(rng.random() * (room_s - delay_s + 1))) * US_PER_SECOND)
            stamps.append(ts)
            pairs.append(pairs[i])
        valid_lines = len(stamps)
        malformed = _bernoulli_indexes(rng, n, self._bad_per_event)
        for i in malformed:
            reason = MALFORMED_REASONS[int(rng.random() * len(MALFORMED_REASONS))]
            counts.malformed_by_reason[reason] = counts.malformed_by_reason.get(reason, 0) + 1
            arrival.append(stamps[i])
            pairs.append((raw[i][1], _malformed(raw[i][2], reason)))

        # Stable: ties keep generation order, and a copy (appended later) follows its original.
        order = sorted(range(len(arrival)), key=arrival.__getitem__)
        records = [pairs[i] for i in order]
        arrived = [stamps[i] for i in order if i < valid_lines]
        previous = counts.max_occurred_at
        running = accumulate(arrived, max, initial=arrived[0] if previous is None else previous)
        counts.out_of_order_lines += sum(map(lt, arrived, running))

        by_type = counts.events_by_type
        for kind, count in Counter(e[3] for e in raw).items():
            by_type[kind] = by_type.get(kind, 0) + count
        latest = max(stamps)
        if previous is None or latest > previous:
            counts.max_occurred_at = latest
        counts.events += n
        counts.delayed_events += len(delays)
        counts.duplicate_lines += len(duplicates)
        counts.malformed_lines += len(malformed)
        return records
