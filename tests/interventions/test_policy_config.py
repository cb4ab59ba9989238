"""The policy: and channels: sections, read strictly: a good file, and bad ones as a table of file:line:column errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from interventions.config import PolicyConfig
from schemas.config_yaml import ConfigError
from schemas.timefmt import US_PER_DAY, US_PER_HOUR
from streams.config import config_from_text, load_config

DATA = Path(__file__).parent / "testdata"

BAD = [
    ("bad_policy_key.yaml", "37:3: policy.frequency_caps: unknown key 'frequency_caps'; did you mean 'frequency_cap'?"),
    ("bad_share.yaml", "37:20: policy.holdout.share: '150%' is not a share"),
    ("bad_holdout_trigger.yaml", "37:24: policy.holdout.triggers.payment_failng: unknown trigger 'payment_failng'; "
                                 "did you mean 'payment_failing'?"),
    ("bad_quiet_time.yaml", "37:24: policy.quiet_hours.start: '9pm' is not a time of day"),
    ("bad_timezone.yaml", "37:65: policy.quiet_hours.default_timezone: 'Mars/Olympus' is not a known IANA time zone"),
    ("bad_cap_duration.yaml", "37:32: policy.frequency_cap.per: a duration needs a unit"),
    ("bad_channel_kind.yaml", "37:17: channels.email.kind: unknown channel kind 'smtp'"),
    ("bad_channel_missing.yaml", "14:3: interventions.payment_outreach.channel: unknown channel 'csm'; "
                                 "define it under channels: (defined: email)"),
    ("bad_channel_url.yaml", "38:30: channels.csm.url: 'ftp://csm.example.com' is not an http(s) URL"),
    ("bad_rate.yaml", "37:81: channels.email.rate_limit: 'fast' is not a rate limit"),
    ("bad_email_key.yaml", "37:69: channels.email.password: unknown key 'password'"),
    ("bad_placeholder.yaml", "6:3: interventions.onboarding_checkin.template: unknown placeholder {{acount}}; "
                             "did you mean {{account_id}}?"),
    ("bad_email_subject.yaml", "6:3: interventions.onboarding_checkin.template: an email needs a subject"),
]


@pytest.mark.parametrize("name,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_file_line_column_and_the_fix(name, expected):
    path = DATA / name
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}:"), message
    assert expected in message, message
    assert "\n" not in message


def test_good_config_reads_every_policy_and_channel_setting():
    cfg = load_config(DATA / "good.yaml")
    policy: PolicyConfig = cfg.extra["policy"]
    assert policy.decision_window_us == 2 * US_PER_HOUR and policy.cap_max == 2 and policy.cap_window_us == 7 * US_PER_DAY
    assert policy.holdout_share("payment_failing") == 0.2 and policy.holdout_share("onboarding_stalled") == 0.1
    assert policy.salt == "exp-2026-01" and policy.command_ttl_us == 3 * US_PER_DAY
    assert (policy.quiet_hours.start_minute, policy.quiet_hours.end_minute) == (21 * 60, 8 * 60)
    assert policy.quiet_hours.default_timezone == "Europe/Berlin"
    channels = cfg.extra["channels"]
    assert channels["email"].kind == "email" and channels["email"].rate_per_s == 10.0
    assert channels["email"].options["username"] == "forewarn" and channels["email"].options["port"] == 587
    assert channels["csm"].kind == "csm_task" and channels["csm"].timeout_s == 5.0 and channels["csm"].rate_per_s == 10.0


def test_sections_are_optional_with_documented_defaults():
    text = (DATA / "good.yaml").read_text().split("\npolicy:")[0]
    cfg = config_from_text(text, "no-policy.yaml")
    assert cfg.extra["policy"] == PolicyConfig() and cfg.extra["channels"] == {}
    assert PolicyConfig().default_holdout == 0.10 and PolicyConfig().cap_max == 2


def test_the_shipped_config_loads_with_every_section():
    cfg = load_config(Path(__file__).resolve().parents[2] / "deploy" / "config" / "forewarn.yaml")
    assert isinstance(cfg.extra["policy"], PolicyConfig)
