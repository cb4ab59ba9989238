"""The worker's collector settings: start-up objects frozen, rarer young passes, or Python's own."""

from __future__ import annotations

import gc

import pytest

from streams.gc_tuning import tune_gc
from streams.settings import Settings


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_a_threshold_freezes_what_exists_and_makes_young_passes_rarer(restore_gc):
    gc.unfreeze()
    assert tune_gc(50_000)[0] == 50_000
    assert gc.get_threshold()[0] == 50_000
    assert gc.get_freeze_count() > 1_000, "the objects alive at start-up should be out of the collector's sight"


def test_zero_keeps_pythons_settings(restore_gc):
    gc.unfreeze()
    before = gc.get_threshold()
    assert tune_gc(0) == before
    assert gc.get_freeze_count() == 0


def test_the_setting_defaults_on_and_reads_the_environment(monkeypatch):
    assert Settings().gc_gen0_threshold == 50_000
    monkeypatch.setenv("FOREWARN_GC_GEN0_THRESHOLD", "0")
    assert Settings().gc_gen0_threshold == 0
