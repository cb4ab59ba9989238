"""Fixtures of the deployment tests: the kubeconform binary and Kubernetes JSON schemas it can
read without a network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_manifests import KUBERNETES_VERSION


@pytest.fixture(scope="session")
def kubeconform() -> str:
    """The kubeconform binary: on PATH, beside this Python (deploy/setup.sh puts it there), or in GOPATH."""
    candidates = [shutil.which("kubeconform"), str(Path(sys.executable).parent / "kubeconform")]
    if shutil.which("go"):
        gopath = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True).stdout.strip()
        candidates.append(os.path.join(gopath, "bin", "kubeconform"))
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.fail("kubeconform is not installed: run deploy/setup.sh "
                "(GOBIN=.venv/bin go install github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0)")


@pytest.fixture(scope="session")
def k8s_schema_location(tmp_path_factory) -> str:
    """kubeconform's -schema-location over the Kubernetes schemas shipped by the kubernetes-validate package.

    Those files name their shared definitions by an absolute https URL, which this
    machine cannot fetch; a copy with the references made relative (and the $id
    dropped, so they resolve against the file itself) is what kubeconform reads.
    """
    import kubernetes_validate

    src = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"
    if not src.is_dir():
        pytest.fail(f"kubernetes-validate has no schemas for Kubernetes {KUBERNETES_VERSION} at {src}")
    dst = tmp_path_factory.mktemp("k8s-schemas") / f"v{KUBERNETES_VERSION}-standalone-strict"
    dst.mkdir()
    for f in src.glob("*.json"):
        doc = json.loads(f.read_text().replace('"/api/_definitions.json#', '"_definitions.json#'))
        doc.pop("$id", None)
        (dst / f.name).write_text(json.dumps(doc))
    return f"file://{dst.parent}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}/" \
           "{{ .ResourceKind }}{{ .KindSuffix }}.json"
