"""deploy/compose.yaml: validated by the compose-spec parser and the compose-spec schema models
(as ``docker compose config`` would), plus the wiring a schema cannot see."""

from __future__ import annotations

import json
import re

import pytest
from compose_spec import PyCompose
from ruamel.yaml import YAML
from deploy_manifests import DEPLOY, TESTDATA, build_shipped_channels, channel_secret_names, load_all, \
    unknown_setting_names

COMPOSE = DEPLOY / "compose.yaml"
FOREWARN_SERVICES = ("topics", "worker", "dispatcher", "outcomes")


def _validate(doc: dict) -> None:
    """Raises ValueError (with the path and position) when ``doc`` is not a valid Compose file."""
    # The Rust compose-spec parser checks keys, types and enums; to_spec() re-checks the
    # result against the pydantic models generated from the compose-spec JSON schema.
    PyCompose.from_json(json.dumps(doc)).to_spec()


@pytest.fixture(scope="module")
def compose() -> dict:
    (doc,) = load_all(COMPOSE)
    return doc


def test_compose_file_is_valid(compose):
    _validate(compose)
    assert set(compose["services"]) == {"kafka", "redis", "topics", "worker", "dispatcher", "outcomes", "prometheus",
                                           "grafana"}


@pytest.mark.parametrize("bad", sorted((TESTDATA / "compose-bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_compose_files_are_refused(bad):
    (doc,) = load_all(bad)
    with pytest.raises(ValueError):
        _validate(doc)


def test_dependencies_name_real_services_and_images_are_pinned(compose):
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        for dep in deps if isinstance(deps, list) else deps.keys():
            assert dep in services, f"{name} depends on unknown service {dep}"
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image version ({image})"


def test_forewarn_services_use_real_settings_and_wait_for_their_dependencies(compose):
    services = compose["services"]
    for name in FOREWARN_SERVICES:
        env = services[name]["environment"]
        assert unknown_setting_names(env) == [], name
    assert services["worker"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name,port_var", [("worker", "FOREWARN_WORKER_WEB_PORT"), ("dispatcher", "FOREWARN_METRICS_PORT"),
                                          ("outcomes", "FOREWARN_METRICS_PORT")])
def test_health_checks_and_scrapes_use_the_port_the_process_serves(compose, name, port_var):
    svc = compose["services"][name]
    port = svc["environment"][port_var]
    assert svc["environment"]["FOREWARN_WORKER_WEB_HOST"] == "0.0.0.0"
    assert f"http://127.0.0.1:{port}/healthz" in " ".join(svc["healthcheck"]["test"])
    assert svc["expose"] == [port]
    scrape = YAML(typ="safe").load(compose["configs"]["prometheus-config"]["content"])
    targets = {(n, sd["port"]) for job in scrape["scrape_configs"] for sd in job["dns_sd_configs"] for n in sd["names"]}
    assert (name, int(port)) in targets


def test_the_dispatcher_is_given_every_channel_secret_the_shipped_config_needs(compose):
    env = compose["services"]["dispatcher"]["environment"]
    needed = channel_secret_names()
    assert needed, "the shipped config has no channel that needs a secret: is this test still asking the right thing?"
    for name in needed:
        # Required from the shell like the checkpoint key: `up` stops with the message, not the dispatcher.
        assert re.fullmatch(rf"\$\{{{name}:\?.+\}}", str(env.get(name, ""))), \
            f"compose's dispatcher needs {name}: ${{{name}:?export ...}}"
    interpolated = {k: "a-signing-secret" if str(v).startswith("${") else str(v) for k, v in env.items()}
    assert build_shipped_channels(interpolated)  # what `forewarn dispatcher` builds at start-up
