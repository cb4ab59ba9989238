"""Config values that pass every check must also work at run time: bounded durations, salts, set names."""

from __future__ import annotations

import pytest

from schemas.config_yaml import ConfigError
from streams.config import load_config


def _write(tmp_path, text: str):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    return path


BASE = """\
engine:
  sets: {core_features: [reports, dashboards]}
interventions:
  hello: {channel: email, priority: 1, cooldown: 1d, success: {event: session.started, within: 7d}}
triggers:
  stalled:
    kind: absence
    after: account.onboarded
    expect: {event: feature.used, where: {feature: WHERE}}
    within: WITHIN
    intervention: hello
"""


@pytest.mark.parametrize("where,within,message", [
    ("core_features", "7d", "name of a value set"),
    ("[core_features]", "7d", "name of a value set"),
    ("{in: core_features}", "3000000d", "too long"),
])
def test_values_that_would_break_at_run_time_are_refused_with_their_position(tmp_path, where, within, message):
    path = _write(tmp_path, BASE.replace("WHERE", where).replace("WITHIN", within))
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert f"{path}:" in str(err.value)


def test_a_value_set_used_with_in_is_still_fine(tmp_path):
    cfg = load_config(_write(tmp_path, BASE.replace("WHERE", "{in: core_features}").replace("WITHIN", "7d")))
    assert "stalled" in cfg.triggers


def test_a_salt_longer_than_the_decision_contract_allows_is_refused(tmp_path):
    text = BASE.replace("WHERE", "{in: core_features}").replace("WITHIN", "7d") + \
        "policy:\n  holdout: {share: 10%, salt: " + "x" * 65 + "}\n"
    with pytest.raises(ConfigError, match="experiment salt"):
        load_config(_write(tmp_path, text))


def test_a_state_ttl_shorter_than_a_triggers_horizon_is_refused_at_the_trigger(tmp_path):
    """Redis forgets an account state_ttl after its last write; an onboarded account silent for 7 days is the
    one that must fire, so a 2-day TTL would silently lose every onboarding_stalled firing (not the backtest's)."""
    text = BASE.replace("WHERE", "{in: core_features}").replace("WITHIN", "7d").replace(
        "engine:\n", "engine:\n  state_ttl: 2d\n")
    with pytest.raises(ConfigError, match=r"triggers.stalled: .* engine.state_ttl is 2d; raise engine.state_ttl") as err:
        load_config(_write(tmp_path, text))
    assert f"{tmp_path / 'f.yaml'}:7:" in str(err.value)
