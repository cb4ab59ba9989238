"""Noise options produce the shares asked for, and out-of-order delivery never reaches the lateness."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from forewarn.simulate import FileSink, NoiseOptions, Simulation, SimulationConfig, SimulationConfigError
from schemas.event import Event, parse_event


def _lines(noise: NoiseOptions, tmp_path, accounts: int = 400, days: int = 20, seed: int = 3):
    sim = Simulation(SimulationConfig(accounts=accounts, days=days, seed=seed, noise=noise))
    path = tmp_path / "events.jsonl"
    with FileSink(path) as sink:
        while not sim.done:
            sink(sim.step().records)
    return sim, [parse_event(line) for line in path.read_bytes().splitlines()]


def _within(observed: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    """Is a binomial count within ``sigmas`` standard deviations of ``n * p``?"""
    return abs(observed - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def _lateness_overshoot(parsed) -> int:
    """Largest (max occurred_at seen before − occurred_at) over valid lines, in microseconds."""
    running, worst = None, 0
    for ev in parsed:
        if isinstance(ev, Event):
            if running is not None:
                worst = max(worst, running - ev.ts)
            running = ev.ts if running is None else max(running, ev.ts)
    return worst


def test_requested_shares_are_what_the_file_contains(tmp_path):
    noise = NoiseOptions(duplicate_share=0.05, out_of_order_share=0.10, malformed_share=0.02)
    sim, parsed = _lines(noise, tmp_path)
    events = [p for p in parsed if isinstance(p, Event)]
    ids = Counter(ev.event_id for ev in events)
    unique = len(ids)
    assert unique > 20_000
    duplicates = len(events) - unique
    malformed = len(parsed) - len(events)
    assert _within(duplicates, unique, 0.05), duplicates / unique
    assert _within(malformed, len(parsed), 0.02), malformed / len(parsed)
    assert max(ids.values()) == 2
    counts = sim.delivery.counts
    assert (counts.duplicate_lines, counts.malformed_lines) == (duplicates, malformed)
    # Delays are drawn per event; only events that really get overtaken count as out of order.
    assert _within(counts.delayed_events, unique, 0.10), counts.delayed_events / unique
    overtaken = sum(_overtaken(parsed))
    assert overtaken == counts.out_of_order_lines
    assert 0.8 * counts.delayed_events <= overtaken <= counts.delayed_events + duplicates


def _overtaken(parsed) -> list[bool]:
    running, flags = None, []
    for ev in parsed:
        if isinstance(ev, Event):
            flags.append(running is not None and ev.ts < running)
            running = ev.ts if running is None else max(running, ev.ts)
    return flags


@pytest.mark.parametrize("lateness", [2, 60, 300])
def test_out_of_order_stays_below_the_lateness(tmp_path, lateness):
    noise = NoiseOptions(duplicate_share=0.05, out_of_order_share=0.5, malformed_share=0, lateness_seconds=lateness)
    sim, parsed = _lines(noise, tmp_path, accounts=150, days=5)
    worst = _lateness_overshoot(parsed)
    assert 0 < worst < lateness * 1_000_000
    assert sim.delivery.counts.out_of_order_lines > 0


def test_duplicates_follow_their_original(tmp_path):
    sim, parsed = _lines(NoiseOptions(duplicate_share=0.2, out_of_order_share=0.2, malformed_share=0),
                         tmp_path, accounts=100, days=5)
    first_seen = {}
    for index, ev in enumerate(parsed):
        if ev.event_id in first_seen:
            assert parsed[first_seen[ev.event_id]] == ev  # the same event, delivered again later
        else:
            first_seen[ev.event_id] = index
    assert sim.delivery.counts.duplicate_lines == len(parsed) - len(first_seen) > 0


def test_no_noise_means_sorted_unique_valid_lines(tmp_path):
    sim, parsed = _lines(NoiseOptions(0, 0, 0), tmp_path, accounts=100, days=5)
    assert all(isinstance(p, Event) for p in parsed)
    assert len({p.event_id for p in parsed}) == len(parsed) == sim.delivery.counts.events
    stamps = [p.ts for p in parsed]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize("bad", [dict(duplicate_share=1.5), dict(malformed_share=0.5),
                                 dict(lateness_seconds=1, out_of_order_share=0.1)])
def test_impossible_noise_is_refused_with_the_option_named(bad):
    with pytest.raises(SimulationConfigError, match=next(iter(bad))):
        NoiseOptions(**bad)
