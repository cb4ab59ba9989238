"""The usage_drop trigger's configuration: good and bad example files, as a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.online.usage_drop import UsageDrop
from schemas.config_yaml import ConfigError, load_yaml

DATA = Path(__file__).parent / "testdata"


def _read(name):
    return UsageDrop.from_config("usage_dropping", load_yaml(DATA / name).as_map(), {})


def test_every_key_is_read_and_stored_as_given():
    rule = _read("good_full.yaml")
    assert rule.config() == {"name": "usage_dropping", "detector": "half_space_trees", "quantile": 0.995,
                             "warm_up_scores": 5000, "min_history_days": 21, "min_drop": 0.5, "drop_ratio": 0.4,
                             "ticket_ratio": 2.0, "recover_ratio": 0.8, "short_horizon_days": 5,
                             "long_horizon_days": 42, "seed": 7}
    det = rule.build(allowed_lateness_us=0)
    assert det.scorer.name == "half_space_trees" and det.scorer.seed == 7 and det.threshold.min_scores == 5000
    assert (det.horizons.short_days, det.horizons.long_days) == (5, 42)


def test_defaults_and_fingerprint():
    rule = _read("good_minimal.yaml")
    assert rule.detector == "drop_z" and rule.quantile == 0.995 and rule.min_history_days == 28
    assert rule.min_drop == 0.35 and rule.build(allowed_lateness_us=0).policy.min_drop == 0.35
    assert rule.fingerprint(300) == _read("good_minimal.yaml").fingerprint(300)
    assert rule.fingerprint(300) != rule.fingerprint(60) != _read("good_full.yaml").fingerprint(60)


@pytest.mark.parametrize("name, line, col, message", [
    ("bad_unknown_key.yaml", 2, 1, "unknown key 'quantil'; did you mean 'quantile'?"),
    ("bad_quantile.yaml", 2, 11, "quantile: 1.5 is out of range"),
    ("bad_detector.yaml", 2, 11, "unknown detector 'isolation_forest'; known: drop_z, half_space_trees, rate_drop"),
    ("bad_horizons.yaml", 1, 1, "short_horizon (30d) must be shorter than long_horizon (14d)"),
    ("bad_partial_day.yaml", 2, 14, "'36h' is not a whole number of days"),
    ("bad_text_number.yaml", 2, 13, "expected a number, got str"),
])
def test_mistakes_name_file_line_column_and_the_fix(name, line, col, message):
    with pytest.raises(ConfigError) as info:
        _read(name)
    text = str(info.value)
    assert text.startswith(f"{DATA / name}:{line}:{col}: "), text
    assert message in text
