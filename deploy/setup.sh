#!/usr/bin/env bash
# Sets up a fresh machine for Forewarn: system packages (Debian), a virtualenv with
# the project installed, and the pinned Kafka jars. Idempotent: a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v java >/dev/null || need+=(default-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v redis-server >/dev/null || need+=(redis-server)
command -v kcat >/dev/null || need+=(kcat)
command -v promtool >/dev/null || need+=(prometheus)
command -v go >/dev/null || need+=(golang-go)
if [ "${FOREWARN_SETUP_BROWSER:-0}" = 1 ]; then
  command -v chromium >/dev/null || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: missing ${need[*]} and no apt-get to install them" >&2; exit 1
  fi
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.forewarn-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[test]"
  touch "$stamp"
fi
# kubeconform checks deploy/k8s in the tests; built from the Go module proxy into the venv.
if [ ! -x .venv/bin/kubeconform ]; then
  GOBIN="$PWD/.venv/bin" go install github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0
fi
# Resolve the broker jars now so the first 'dev up' needs no download.
.venv/bin/python -c "from forewarn.devinfra.kafka import resolve_jars; resolve_jars()"
