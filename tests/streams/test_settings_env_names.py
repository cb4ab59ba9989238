"""A misspelt FOREWARN_* variable stops Settings with one line naming it (and the name it meant), never
silently falling back to a default; every name the repository sets or reads is still accepted."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from forewarn.commands.common import settings_problem
from streams import settings as settings_module
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MISSPELT_ON_PURPOSE = {Path(__file__).resolve(), ROOT / "streams" / "envcheck.py",  # their examples
                       ROOT / "tests" / "forewarn" / "commands" / "test_cli_env_names.py"}
#: Typos the docs quote on purpose, in the example of the refusal (README "Settings", docs/deploy.md).
DOCUMENTED_TYPOS = {"FOREWARN_TOPICS__PARTITONS", "FOREWARN_IDEL_ADVANCE"}
VALUE = "s3cret-Value-0f-the-typo"  # must never appear in the message


@pytest.fixture(autouse=True)
def _no_forewarn_environment(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("FOREWARN_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("name, meant", [
    # top level
    ("FOREWARN_IDEL_ADVANCE", "FOREWARN_IDLE_ADVANCE"),
    ("FOREWARN_MAX_POLL_RECORD", "FOREWARN_MAX_POLL_RECORDS"),
    ("FOREWARN_REDIS_UR", "FOREWARN_REDIS_URL"),
    ("forewarn_idel_advance", "FOREWARN_IDLE_ADVANCE"),  # pydantic-settings reads names in any case
    # nested
    ("FOREWARN_TOPICS__PARTITONS", "FOREWARN_TOPICS__PARTITIONS"),
    ("FOREWARN_KAFKA_SECURITY__SASL_PASWORD", "FOREWARN_KAFKA_SECURITY__SASL_PASSWORD"),
    ("FOREWARN_DISPATCHER__MAX_ATEMPTS", "FOREWARN_DISPATCHER__MAX_ATTEMPTS"),
    ("FOREWARN_DISPATCHER__CHANNEL_SECRET__EMAIL", "FOREWARN_DISPATCHER__CHANNEL_SECRETS__EMAIL"),
    # wrong nesting
    ("FOREWARN_DISPATCHER_MAX_ATTEMPTS", "FOREWARN_DISPATCHER__MAX_ATTEMPTS"),
    ("FOREWARN_TOPICS_PARTITIONS", "FOREWARN_TOPICS__PARTITIONS"),
    ("FOREWARN_PARTITIONS", "FOREWARN_TOPICS__PARTITIONS"),
    ("FOREWARN_PROTOCOL", "FOREWARN_KAFKA_SECURITY__PROTOCOL"),
    ("FOREWARN_TOPICS__MAX_ATTEMPTS", "FOREWARN_DISPATCHER__MAX_ATTEMPTS"),
    ("FOREWARN_IDLE_ADVANCE__AFTER_S", "FOREWARN_IDLE_ADVANCE_AFTER_S"),
    # a variable read by something else than Settings
    ("FOREWARN_STATE_DRI", "FOREWARN_STATE_DIR"),
    # nothing close
    ("FOREWARN_XYZZY", None),
])
def test_a_misspelt_name_is_refused_with_the_name_it_meant(monkeypatch, name, meant):
    monkeypatch.setenv(name, VALUE)
    with pytest.raises(ValueError) as refused:
        Settings()
    hint = f"did you mean {meant}?" if meant else "nothing close; unset it"
    assert settings_problem(refused.value) == f"{name}: no such setting ({hint})"
    assert VALUE not in str(refused.value)


def test_every_misspelt_name_is_named_in_one_line(monkeypatch):
    monkeypatch.setenv("FOREWARN_TOPICS__PARTITIONS", "8")
    monkeypatch.setenv("FOREWARN_TOPICS__REPLICATON_FACTOR", "3")
    monkeypatch.setenv("FOREWARN_IDEL_ADVANCE", "0")
    with pytest.raises(ValueError) as refused:
        Settings()
    assert settings_problem(refused.value) == (
        "FOREWARN_IDEL_ADVANCE: no such setting (did you mean FOREWARN_IDLE_ADVANCE?); "
        "FOREWARN_TOPICS__REPLICATON_FACTOR: no such setting (did you mean FOREWARN_TOPICS__REPLICATION_FACTOR?)")


def test_real_names_in_any_case_and_the_other_tools_variables_are_accepted(monkeypatch):
    for name, value in {
        "forewarn_idle_advance": "0", "Forewarn_Topics__Partitions": "8", "FOREWARN_TOPICS__REPLICATION_FACTOR": "1",
        "FOREWARN_DISPATCHER__CHANNEL_SECRETS__CSM_TASK": VALUE, "FOREWARN_DISPATCHER__MAX_ATTEMPTS": "7",
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": "k1:9092", "FOREWARN_KAFKA_SECURITY__PROTOCOL": "SSL",
        **dict.fromkeys(settings_module.NOT_SETTINGS, "1"),
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.idle_advance, settings.topics.partitions, settings.dispatcher.max_attempts) == (False, 8, 7)
    assert settings.dispatcher.channel_secrets["csm_task"].get_secret_value() == VALUE
    assert (settings.kafka_bootstrap_servers, settings.kafka_security.protocol) == ("k1:9092", "SSL")


def test_the_variables_kubernetes_sets_for_a_forewarn_service_are_not_typos(monkeypatch):
    """A Service named forewarn-redis in the pod's namespace (enableServiceLinks, on by default) gives every
    pod FOREWARN_REDIS_SERVICE_HOST, FOREWARN_REDIS_PORT... : refusing them would crash-loop every pod."""
    links = {"FOREWARN_REDIS_MASTER_SERVICE_HOST": "10.0.0.7", "FOREWARN_REDIS_MASTER_SERVICE_PORT": "6379",
             "FOREWARN_REDIS_MASTER_SERVICE_PORT_TCP_REDIS": "6379", "FOREWARN_REDIS_MASTER_PORT": "tcp://10.0.0.7:6379",
             "FOREWARN_REDIS_MASTER_PORT_6379_TCP": "tcp://10.0.0.7:6379",
             "FOREWARN_REDIS_MASTER_PORT_6379_TCP_ADDR": "10.0.0.7",
             "FOREWARN_REDIS_MASTER_PORT_6379_TCP_PORT": "6379", "FOREWARN_REDIS_MASTER_PORT_6379_TCP_PROTO": "tcp"}
    for name, value in links.items():
        monkeypatch.setenv(name, value)
    assert Settings().topics.partitions > 0
    monkeypatch.setenv("FOREWARN_METRIC_PORT", "9100")  # a lone *_PORT is still a typo
    with pytest.raises(ValueError, match="FOREWARN_METRIC_PORT: no such setting .did you mean FOREWARN_METRICS_PORT"):
        Settings()


def test_a_service_link_that_lands_on_a_real_setting_is_named_as_such(monkeypatch):
    """A Service named forewarn-metrics gives FOREWARN_METRICS_PORT=tcp://IP:PORT: a real setting's name,
    which failed as an unreadable port; now the one line says where it comes from and the fix."""
    monkeypatch.setenv("FOREWARN_METRICS_SERVICE_HOST", "10.96.0.12")
    monkeypatch.setenv("FOREWARN_METRICS_PORT", "tcp://10.96.0.12:9108")
    with pytest.raises(ValueError, match="FOREWARN_METRICS_PORT: set by Kubernetes for a Service .*enableServiceLinks"):
        Settings()


def test_a_variable_read_elsewhere_must_be_spelt_exactly(monkeypatch):
    monkeypatch.setenv("forewarn_state_dir", "/tmp/state")  # os.environ["FOREWARN_STATE_DIR"] would not see it
    with pytest.raises(ValueError) as refused:
        Settings()
    assert settings_problem(refused.value) == "forewarn_state_dir: no such setting (did you mean FOREWARN_STATE_DIR?)"


# -- every name the repository sets or reads ---------------------------------------------------------

_NAME = r"(FOREWARN_\w+)"
# Where the tests and the code set or read a variable: setenv("X", ...), env["X"] = ..., {"X": ...},
# X=... (keyword or shell), os.environ.get("X") / os.environ["X"].
_SET_OR_READ = [re.compile(p) for p in (
    rf'setenv\(\s*"{_NAME}"', rf'\[\s*"{_NAME}"\s*\]\s*=(?!=)', rf'"{_NAME}"\s*:', rf"\b{_NAME}=(?!=)",
    rf'environ(?:\.get\(|\[)\s*"{_NAME}"')]


def _names_in(path: Path, patterns) -> set[str]:
    text = path.read_text()
    found = {m.group(1) for p in patterns for m in p.finditer(text)}
    return {n for n in found if not n.endswith("_")}  # FOREWARN_KAFKA_SECURITY__* is a family, not a name


def _repository_names() -> dict[str, set[str]]:
    every_mention = [re.compile(rf"\b{_NAME}")]
    deploy_files = [ROOT / "deploy" / "compose.yaml", *sorted((ROOT / "deploy" / "k8s").glob("*.yaml")),
                    ROOT / ".ci" / "run", ROOT / "Makefile", ROOT / "deploy" / "setup.sh", ROOT / "deploy" / "Dockerfile",
                    ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    code_files = [p for d in ("tests", "forewarn", "streams", "detectors", "interventions", "schemas")
                  for p in sorted((ROOT / d).rglob("*.py")) if p not in MISSPELT_ON_PURPOSE]
    found = {}
    for path in deploy_files:
        found[str(path.relative_to(ROOT))] = _names_in(path, every_mention) - DOCUMENTED_TYPOS
    for path in code_files:
        found[str(path.relative_to(ROOT))] = _names_in(path, _SET_OR_READ)
    return {k: v for k, v in found.items() if v}


def test_every_name_the_repository_sets_or_reads_is_accepted():
    from streams.envcheck import unknown_names

    found = _repository_names()
    # What the check must see, or it proves nothing: the deployment's names and the variables other tools read.
    seen = set().union(*found.values())
    assert {"FOREWARN_WORKER_WEB_PORT", "FOREWARN_DISPATCHER__CHANNEL_SECRETS__CSM_TASK", "FOREWARN_TEST_ARTIFACTS",
            "FOREWARN_SETUP_BROWSER", "FOREWARN_STATE_DIR", "FOREWARN_KAFKA_HEAP", "FOREWARN_MAX_POLL_RECORDS",
            "FOREWARN_TESTCONTAINERS", "FOREWARN_TOPICS"} <= seen
    refused = {where: bad for where, names in found.items()
               if (bad := unknown_names(Settings, dict.fromkeys(names, ""), settings_module.NOT_SETTINGS))}
    assert refused == {}


def test_each_variable_that_is_not_a_setting_is_read_somewhere():
    readers = [p for d in ("forewarn", "streams", "tests", "deploy", ".ci") for p in sorted((ROOT / d).rglob("*"))
               if p.is_file() and p.suffix in (".py", ".sh", "") and "__pycache__" not in p.parts
               and p != ROOT / "streams" / "settings.py" and p != Path(__file__).resolve()]
    text = "\n".join(p.read_text(errors="replace") for p in readers)
    for name in settings_module.NOT_SETTINGS:
        assert re.search(rf'(environ(?:\.get\(|\[)\s*"|\$\{{){name}\b', text), f"nothing reads {name}: drop it"
