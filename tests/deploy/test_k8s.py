"""Kubernetes manifests: kubeconform (strict, offline schemas) plus the checks a schema cannot make —
probes wired to the health endpoints, settings names that exist, replicas within the partitions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from deploy_manifests import DEPLOY, DOCS, KUBERNETES_VERSION, TESTDATA, build_shipped_channels, \
    channel_secret_names, documented_secret_names, load_all, unknown_setting_names
from forewarn.commands.common import settings_problem
from streams.settings import Settings

K8S = DEPLOY / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _kubeconform(binary: str, location: str, *paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "-strict", "-summary", "-output", "text", "-kubernetes-version", KUBERNETES_VERSION,
                           "-schema-location", location, *map(str, paths)], capture_output=True, text=True, timeout=120)


def _resources() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for p in MANIFESTS for d in load_all(p)}


def test_every_manifest_is_valid_for_kubernetes(kubeconform, k8s_schema_location):
    done = _kubeconform(kubeconform, k8s_schema_location, *MANIFESTS)
    assert done.returncode == 0, done.stdout + done.stderr
    n = sum(len(load_all(p)) for p in MANIFESTS)
    # Every resource validated against a schema: none skipped for want of one.
    assert f"Valid: {n}, Invalid: 0, Errors: 0, Skipped: 0" in done.stdout


@pytest.mark.parametrize("bad", sorted((TESTDATA / "k8s-bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_manifests_are_refused(kubeconform, k8s_schema_location, bad):
    done = _kubeconform(kubeconform, k8s_schema_location, bad)
    assert done.returncode != 0
    assert "is invalid" in done.stdout, done.stdout


def test_kustomization_lists_every_manifest_but_the_secret_template():
    kust = YAML(typ="safe").load((K8S / "kustomization.yaml").read_text())
    # Applying the template would overwrite the real forewarn-credentials with placeholders.
    assert "secret.yaml" not in kust["resources"]
    assert sorted(kust["resources"]) == sorted(p.name for p in MANIFESTS if p.name != "secret.yaml")


def test_the_secret_template_and_the_documented_command_carry_every_secret():
    template = _resources()[("Secret", "forewarn-credentials")]["stringData"]
    needed = ["FOREWARN_MODEL_CHECKPOINT_KEY", *channel_secret_names()]
    assert set(needed) <= set(template), "deploy/k8s/secret.yaml lacks some secrets"
    for doc in (DOCS / "deploy.md", K8S / "secret.yaml"):
        assert sorted(documented_secret_names(doc)) == sorted(template), \
            f"the `kubectl create secret` command in {doc} must set what the template holds"
    filled = {k: v.replace("REPLACE-ME", "filled-in") for k, v in template.items()}
    assert build_shipped_channels(filled)  # what `forewarn dispatcher` builds at start-up


def test_the_secret_templates_placeholders_are_refused_at_start_up(monkeypatch):
    template = _resources()[("Secret", "forewarn-credentials")]["stringData"]
    needed = ["FOREWARN_MODEL_CHECKPOINT_KEY", *channel_secret_names()]
    for name, value in template.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as refused:
        Settings()
    problem = settings_problem(refused.value)
    for name in needed:
        assert f"{name}: is still the template's placeholder" in problem
    assert "REPLACE-ME" not in problem


def test_configmap_carries_the_checked_in_config_file():
    cm = _resources()[("ConfigMap", "forewarn-config")]
    assert cm["data"]["forewarn.yaml"] == (DEPLOY / "config" / "forewarn.yaml").read_text(), \
        "deploy/k8s/config-configmap.yaml is stale: copy deploy/config/forewarn.yaml into it"


def test_environment_names_are_real_settings():
    res = _resources()
    names = set(res[("ConfigMap", "forewarn-env")]["data"]) | set(res[("Secret", "forewarn-credentials")]["stringData"])
    assert unknown_setting_names(names) == []
    assert unknown_setting_names(["FOREWARN_KAFKA_SECURITY__SASL_PASWORD"]) == ["FOREWARN_KAFKA_SECURITY__SASL_PASWORD"]


@pytest.mark.parametrize("name,port_var", [("forewarn-worker", "FOREWARN_WORKER_WEB_PORT"),
                                           ("forewarn-dispatcher", "FOREWARN_METRICS_PORT"),
                                           ("forewarn-outcomes", "FOREWARN_METRICS_PORT")])
def test_probes_hit_the_health_endpoints_on_the_served_port(name, port_var):
    res = _resources()
    env = res[("ConfigMap", "forewarn-env")]["data"]
    pod = res[("Deployment", name)]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(env[port_var])
    assert env["FOREWARN_WORKER_WEB_HOST"] == "0.0.0.0"  # the kubelet probes the pod IP, not loopback
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["http"])
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    refs = [src.get("configMapRef", src.get("secretRef"))["name"] for src in container["envFrom"]]
    assert refs == ["forewarn-env", "forewarn-credentials"]


def test_each_deployment_has_a_disruption_budget_that_selects_it():
    res = _resources()
    for kind, name in res:
        if kind != "Deployment":
            continue
        labels = res[(kind, name)]["spec"]["template"]["metadata"]["labels"]
        pdbs = [d for (k, _), d in res.items() if k == "PodDisruptionBudget"
                and d["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(pdbs) == 1, f"{name} needs exactly one PodDisruptionBudget"


def test_worker_replicas_do_not_exceed_partitions():
    res = _resources()
    partitions = int(res[("ConfigMap", "forewarn-env")]["data"]["FOREWARN_TOPICS__PARTITIONS"])
    assert 1 <= res[("Deployment", "forewarn-worker")]["spec"]["replicas"] <= partitions
