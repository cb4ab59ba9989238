"""Config files as a table: every good file loads, every bad file fails with its exact file:line:column message.

Each bad file states its expected message in its first line: ``# expect: LINE:COL: message``. Both tables are
read with every section (:func:`streams.config.load_config`, what ``check-config`` and start-up call).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.absence import Absence
from detectors.config import ConfigError, config_from_text
from detectors.count import Count
from detectors.habit_silence import HabitSilence
from event_factory import DEFAULT_CONFIG
from schemas.config_yaml import Section, parse_duration
from schemas.timefmt import US_PER_DAY, US_PER_MINUTE
from streams import config as streams_config

HERE = Path(__file__).parent / "testdata" / "config"
GOOD = sorted((HERE / "good").glob("*.yaml")) + [DEFAULT_CONFIG]
BAD = sorted((HERE / "bad").glob("*.yaml"))


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_files_load(path):
    config = streams_config.load_config(path)  # every section: the default file holds policy, channels, costs
    assert config.triggers
    for name in config.triggers:
        assert config.success_metric(name).within_us > 0


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_files_fail_with_their_message(path):
    header = path.read_text().split("\n", 1)[0]
    assert header.startswith("# expect: "), f"{path.name} lacks its expected message"
    with pytest.raises(ConfigError) as err:
        streams_config.load_config(path)  # every section, so the table holds policy, channels and costs mistakes too
    assert str(err.value) == f"{path}:{header[len('# expect: '):]}"


def test_there_are_enough_bad_files_to_mean_something():
    assert len(BAD) >= 25


def test_the_default_config_holds_the_three_seed_triggers_exactly():
    config = streams_config.load_config(DEFAULT_CONFIG)  # the file also holds policy, channels and costs
    assert config.engine.allowed_lateness_us == 5 * US_PER_MINUTE
    stalled = config.triggers["onboarding_stalled"].rule
    assert isinstance(stalled, Absence) and stalled.within_us == 7 * US_PER_DAY
    assert [s.type for s in stalled.after] == ["account.onboarded"]
    (expect,) = stalled.expect
    assert expect.type == "feature.used"
    assert [expect.matches("feature.used", {"feature": f}) for f in ("reports", "dashboards", "integrations", "x")] \
        == [True, True, True, False]
    failing = config.triggers["payment_failing"].rule
    assert isinstance(failing, Count)
    assert (failing.threshold, failing.window_us) == (3, 30 * US_PER_DAY)
    assert [s.type for s in failing.reset_on] == ["payment.succeeded", "subscription.canceled"]
    assert [s.type for s in failing.rearm_on] == ["payment.succeeded"]
    quiet = config.triggers["power_user_gone_quiet"].rule
    assert isinstance(quiet, HabitSilence)
    assert (quiet.min_days, quiet.of_days, quiet.silence_us) == (10, 14, 10 * US_PER_DAY)
    assert [s.type for s in quiet.activity] == ["session.started", "feature.used"]
    # responses and their success metrics (DESIGN.md)
    assert config.success_metric("onboarding_stalled").describe() == \
        "feature.used where feature in [dashboards, integrations, reports] within 7d"
    assert config.success_metric("payment_failing").describe() == "payment.succeeded within 7d"
    assert config.success_metric("power_user_gone_quiet").describe() == "session.started or feature.used within 14d"
    assert "resource" in config.interventions["onboarding_checkin"].template
    assert "whats_new" in config.interventions["we_miss_you"].template


@pytest.mark.parametrize("text,us", [("7d", 7 * US_PER_DAY), ("30d", 30 * US_PER_DAY), ("10d", 10 * US_PER_DAY),
                                     ("5m", 5 * US_PER_MINUTE), ("12h", 12 * 60 * US_PER_MINUTE),
                                     ("1w", 7 * US_PER_DAY), ("1d12h", 36 * 60 * US_PER_MINUTE), ("90s", 90_000_000)])
def test_durations(text, us):
    assert parse_duration(text) == us


@pytest.mark.parametrize("text", ["7", "7 d", "d", "", "1.5d", "-1d", "7days", "5M", "12h1d"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


MINIMAL = (HERE / "good" / "minimal.yaml").read_text()


def test_other_packages_add_sections_without_touching_this_one():
    policy = Section("policy", lambda node, parsed: node.as_map().require("max_per_week").as_int(minimum=1))
    config = config_from_text(MINIMAL + "policy: {max_per_week: 2}\n", "c.yaml", extra_sections=[policy])
    assert config.extra == {"policy": 2}
    with pytest.raises(ConfigError, match=r"^c.yaml:15:24: policy.max_per_week: 0 is too small"):
        config_from_text(MINIMAL + "policy: {max_per_week: 0}\n", "c.yaml", extra_sections=[policy])
    # without the section registered, the key is unknown
    with pytest.raises(ConfigError, match=r"unknown key 'policy'"):
        config_from_text(MINIMAL + "policy: {max_per_week: 2}\n", "c.yaml")


class _ModelTrigger:
    """A trigger kind that is not a per-event rule (like the online usage_drop model)."""

    kind = "model_drop"
    keys = ("quantile",)

    def __init__(self, name, quantile):
        self.name, self.quantile = name, quantile

    @classmethod
    def from_config(cls, name, node, sets):
        q = node.get("quantile")
        return cls(name, float(q.value) if q is not None else 0.99)

    def describe(self):
        return f"model above its {self.quantile} quantile"


def test_other_trigger_kinds_are_configured_like_rules_but_not_run_by_the_rule_engine():
    from detectors.engine import Engine
    from detectors.registry import TRIGGER_KINDS

    kinds = {**TRIGGER_KINDS, "model_drop": _ModelTrigger}
    text = MINIMAL + "  usage_dropping: {kind: model_drop, quantile: 0.999, intervention: nudge}\n"
    config = config_from_text(text, "c.yaml", trigger_kinds=kinds)
    assert [t.name for t in config.triggers_of_kind("model_drop")] == ["usage_dropping"]
    assert [r.name for r in config.rules()] == ["no_feature_after_signup"]
    assert [r.name for r in Engine.from_config(config).rules] == ["no_feature_after_signup"]
    with pytest.raises(ConfigError, match=r"^c.yaml:15:38: triggers.usage_dropping.quantil: unknown key 'quantil'"):
        config_from_text(text.replace("quantile: 0.999", "quantil: 0.999"), "c.yaml", trigger_kinds=kinds)
    with pytest.raises(ConfigError, match=r"unknown trigger kind 'model_drop'"):
        config_from_text(text, "c.yaml")
