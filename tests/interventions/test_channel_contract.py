"""Every registered channel kind against the channel contract (base.py)."""

from __future__ import annotations

import pytest

from interventions.channels.base import Channel
from interventions.channels.registry import CHANNEL_KINDS, CHANNELS_SECTION

EXAMPLES = {
    "webhook": "{kind: webhook, url: 'https://hooks.example.com/x'}",
    "csm_task": "{kind: csm_task, url: 'https://csm.example.com/tasks'}",
    "email": "{kind: email, host: smtp.example.com, from: s@example.com}",
    "kafka": "{kind: kafka, topic: customer-outreach}",
}


def test_every_kind_has_an_example_here():
    assert set(CHANNEL_KINDS) == set(EXAMPLES)


@pytest.mark.parametrize("kind", sorted(CHANNEL_KINDS))
def test_kind_declares_its_keys_and_parses_its_example(kind):
    from schemas.config_yaml import load_yaml_text

    cls = CHANNEL_KINDS[kind]
    assert issubclass(cls, Channel) and cls.kind == kind
    assert set(cls.required) <= set(cls.keys), "required keys must be among the declared keys"
    specs = CHANNELS_SECTION.parse(load_yaml_text(f"{{ch: {EXAMPLES[kind]}}}", "f.yaml"), {})
    spec = specs["ch"]
    assert spec.kind == kind and spec.name == "ch" and spec.timeout_s > 0
    assert set(spec.options) <= set(cls.keys)


@pytest.mark.parametrize("kind", sorted(CHANNEL_KINDS))
def test_kind_refuses_an_unknown_key_and_a_missing_required_one(kind):
    from schemas.config_yaml import ConfigError, load_yaml_text

    cls = CHANNEL_KINDS[kind]
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        CHANNELS_SECTION.parse(load_yaml_text(f"{{ch: {EXAMPLES[kind][:-1]}, colour: red}}}}", "f.yaml"), {})
    for key in cls.required:
        node = load_yaml_text(f"{{ch: {EXAMPLES[kind]}}}", "f.yaml")
        del node.value["ch"][key]
        with pytest.raises(ConfigError, match=f"missing required key '{key}'"):
            CHANNELS_SECTION.parse(node, {})
