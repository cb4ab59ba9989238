"""deploy/prometheus: the alert rules pass ``promtool check rules`` and their unit tests
(``promtool test rules``), every alert carries a summary, a description and a runbook link
to a real section of docs/runbook.md, and every alert has a unit test where it fires and
one where it stays silent. Broken rule files and failing unit tests are refused (a table
of bad examples in testdata/prometheus-bad/).

promtool comes from Debian's ``prometheus`` package (deploy/setup.sh installs it).
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "forewarn.rules.yml"
UNIT_TESTS = PROMETHEUS / "forewarn.test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
BAD = Path(__file__).parent / "testdata" / "prometheus-bad"


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run deploy/setup.sh (Debian package 'prometheus')")
    return path


def _run(promtool: str, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=60)


def _yaml(path: Path):
    return YAML(typ="safe").load(path.read_text())


def _alerts() -> list[dict]:
    return [r for g in _yaml(RULES)["groups"] for r in g["rules"] if "alert" in r]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading.

    >>> github_anchor("ForewarnWorkerDown")
    'forewarnworkerdown'
    >>> github_anchor("Replaying the dead-letter topic")
    'replaying-the-dead-letter-topic'
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _runbook_anchors() -> set[str]:
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", RUNBOOK.read_text(), re.M)}


def test_rules_pass_promtool_check(promtool):
    result = _run(promtool, "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_alert_unit_tests_pass(promtool):
    result = _run(promtool, "test", "rules", UNIT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_example_scrape_config_is_valid_and_loads_the_rules(promtool):
    result = _run(promtool, "check", "config", CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    jobs = {j["job_name"] for j in _yaml(CONFIG)["scrape_configs"]}
    assert jobs == {"forewarn-worker", "forewarn-dispatcher", "forewarn-outcomes"}, "the rules select these job names"


def test_compose_loads_the_rules_file_and_not_its_unit_tests():
    # deploy/compose.yaml mounts deploy/prometheus and loads /etc/prometheus/forewarn/*.rules.yml.
    globs = re.findall(r"/etc/prometheus/forewarn/(\S+)", (ROOT / "deploy" / "compose.yaml").read_text())
    assert globs, "compose.yaml no longer names the rule files"
    assert any(fnmatch.fnmatch(RULES.name, g) for g in globs)
    assert not any(fnmatch.fnmatch(UNIT_TESTS.name, g) for g in globs)


def test_every_alert_has_summary_description_and_a_runbook_section():
    anchors = _runbook_anchors()
    alerts = _alerts()
    assert len(alerts) >= 7
    for rule in alerts:
        name, notes = rule["alert"], rule.get("annotations", {})
        assert notes.get("summary") and notes.get("description"), name
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), name
        assert notes.get("runbook_url") == f"docs/runbook.md#{github_anchor(name)}", name
        assert github_anchor(name) in anchors, f"docs/runbook.md has no section '{name}'"


def test_every_alert_is_tested_both_firing_and_silent():
    fires: set[str] = set()
    silent: set[str] = set()
    for case in _yaml(UNIT_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {r["alert"] for r in _alerts()}
    assert names - fires == set(), "alerts without a test where they fire"
    assert names - silent == set(), "alerts without a test where they stay silent"
    assert (fires | silent) - names == set(), "unit tests of alerts that do not exist"


@pytest.mark.parametrize("bad", sorted(BAD.glob("*.rules.yml")), ids=lambda p: p.name.split(".")[0])
def test_broken_rule_files_are_refused_with_their_file_named(promtool, bad):
    result = _run(promtool, "check", "rules", bad)
    assert result.returncode != 0, f"{bad.name} passed promtool check rules"
    assert bad.name in result.stdout + result.stderr


@pytest.mark.parametrize("bad", sorted(BAD.glob("*.test.yml")), ids=lambda p: p.name.split(".")[0])
def test_unit_tests_that_expect_the_wrong_alerts_fail(promtool, bad):
    result = _run(promtool, "test", "rules", bad)
    assert result.returncode != 0, f"{bad.name} passed promtool test rules"
    assert "FAILED" in result.stdout + result.stderr


def test_runbook_links_to_its_own_sections_resolve():
    text = RUNBOOK.read_text()
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links, "the runbook's alert table links to its sections"
    assert links - _runbook_anchors() == set()


DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def _kubernetes_scrape_snippet() -> str:
    """The ``scrape_configs`` block docs/deploy.md gives for Kubernetes (pod discovery)."""
    blocks = re.findall(r"```yaml\n(.*?)```", DEPLOY_DOC.read_text(), re.S)
    (snippet,) = [b for b in blocks if "kubernetes_sd_configs" in b]
    return snippet


def _relabel(labels: dict[str, str], configs: list[dict]) -> dict[str, str] | None:
    """Prometheus's relabelling (the replace and keep actions the snippet uses); None when the target is dropped."""
    labels = dict(labels)
    for rc in configs:
        value = rc.get("separator", ";").join(labels.get(n, "") for n in rc.get("source_labels", []))
        match = re.fullmatch(rc.get("regex", "(.*)"), value)  # Prometheus anchors its regexes
        action = rc.get("action", "replace")
        if action == "keep":
            if match is None:
                return None
        elif action == "replace":
            if match is not None:
                replacement = re.sub(r"\$(\d+)", r"\\g<\1>", rc.get("replacement", "$1"))
                labels[rc["target_label"]] = match.expand(replacement)
        else:
            raise AssertionError(f"the test does not model relabel action {action!r}")
    return labels


def _meta_name(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def test_the_documented_kubernetes_scrape_config_gives_the_job_names_the_rules_expect(promtool, tmp_path):
    snippet = YAML(typ="safe").load(_kubernetes_scrape_snippet())
    (job,) = snippet["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["forewarn"]}}]
    # Debian's promtool is built without Kubernetes discovery: it checks the rest (the relabelling's
    # regexes, actions and labels) with a static target in its place.
    checked = {k: v for k, v in job.items() if k != "kubernetes_sd_configs"}
    checked["static_configs"] = [{"targets": ["10.1.2.3:6066"]}]
    config = tmp_path / "prometheus.yml"
    YAML().dump({"rule_files": [str(RULES)], "scrape_configs": [checked]}, config)
    result = _run(promtool, "check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = re.search(r'up\{job=~"([^"]+)"\}', RULES.read_text()).group(1)
    seen = set()
    for manifest in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for doc in YAML(typ="safe").load_all(manifest.read_text()):
            if not doc or doc.get("kind") != "Deployment":
                continue
            pod = doc["spec"]["template"]
            (container,) = pod["spec"]["containers"]
            meta = {f"__meta_kubernetes_pod_label_{_meta_name(k)}": v for k, v in pod["metadata"]["labels"].items()}
            meta |= {f"__meta_kubernetes_pod_annotation_{_meta_name(k)}": v
                     for k, v in pod["metadata"]["annotations"].items()}
            port = container["ports"][0]["containerPort"]
            target = _relabel({"job": job["job_name"], "__address__": f"10.1.2.3:{port}",
                               "__meta_kubernetes_pod_name": "pod-1", **meta}, job["relabel_configs"])
            assert target is not None, f"{doc['metadata']['name']} is not scraped"
            assert re.fullmatch(jobs, target["job"]), f"{doc['metadata']['name']}: job {target['job']}"
            assert target["__address__"] == f"10.1.2.3:{pod['metadata']['annotations']['prometheus.io/port']}"
            assert target["__metrics_path__"] == "/metrics"
            seen.add(target["job"])
    assert seen == {"forewarn-worker", "forewarn-dispatcher", "forewarn-outcomes"}
    # A pod without the scrape annotation is not a target.
    assert _relabel({"__address__": "10.1.2.3:80"}, job["relabel_configs"]) is None
