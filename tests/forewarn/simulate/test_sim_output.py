"""Sinks and pacing: every record reaches the sink once, in order, no faster than asked."""

from __future__ import annotations

import time

from forewarn.simulate import NoiseOptions, Simulation, SimulationConfig, run_simulation


def _config() -> SimulationConfig:
    return SimulationConfig(accounts=60, days=4, seed=2, noise=NoiseOptions(0, 0, 0))


def test_a_sink_sees_each_day_in_order_and_the_truth_counts_it():
    days, records = [], []

    def sink(batch):
        records.extend(batch)
        days.append(len(records))

    truth = run_simulation(Simulation(_config()), sink)
    assert len(days) == 4 and days == sorted(days)
    assert len(records) == truth.summary["noise"]["lines"] == truth.summary["noise"]["events"]
    assert all(key == value.split(b'"account_id":"')[1].split(b'"')[0] for key, value in records)


def test_rate_caps_records_per_second():
    unpaced = []
    run_simulation(Simulation(_config()), unpaced.extend)
    rate = len(unpaced) / 0.5  # half a second's worth at this rate
    paced = []
    began = time.perf_counter()
    run_simulation(Simulation(_config()), paced.extend, rate=rate)
    elapsed = time.perf_counter() - began
    assert paced == unpaced
    assert elapsed >= 0.45
