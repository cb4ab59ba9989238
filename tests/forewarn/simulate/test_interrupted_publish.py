"""A run stopped while it puts its files in place (Ctrl-C, SIGTERM, a kill between two renames) leaves
a directory that the next run into the same ``--out`` recognises as its own, whatever rename it stopped at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import forewarn.simulate.output as output
from forewarn.simulate import TRUTH_FILES, simulate_to_dir
from forewarn.simulate.config import SimulationConfig
from forewarn.simulate.output import check_out_dir


@pytest.mark.parametrize("stop_at", range(1, len(TRUTH_FILES) + 2))  # each truth file, then the events
def test_a_rerun_is_accepted_after_a_publish_stopped_at_any_rename(tmp_path, monkeypatch, stop_at):
    out = tmp_path / "sim"
    real = os.replace
    calls = []

    def replace(src, dst):
        calls.append(Path(dst).name)
        if len(calls) == stop_at:
            raise KeyboardInterrupt  # the Ctrl-C lands between two renames
        return real(src, dst)

    monkeypatch.setattr(output.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        simulate_to_dir(SimulationConfig(accounts=20, days=2, seed=0), out)
    monkeypatch.setattr(output.os, "replace", real)
    check_out_dir(out)  # refused before: truth files left without the summary that names their run
    simulate_to_dir(SimulationConfig(accounts=20, days=2, seed=0), out)
    assert (out / "events.jsonl").exists() and (out / "truth" / "summary.json").exists()
