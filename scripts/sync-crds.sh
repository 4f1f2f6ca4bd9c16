#!/usr/bin/env sh
# Writes the WalrusNode spec schema into the pool CRD's template (sync_pool_template.py),
# then copies the hand-written CRDs (manifests/base/crds, the single source of truth) into
# the Helm chart. `make crds` runs it; tests/unit/operator/test_crds.py and test_packaging.py
# fail when the copies differ.
set -eu
cd "$(dirname "$0")/.."
"${PYTHON:-.venv/bin/python}" scripts/sync_pool_template.py
rm -f charts/walrus-operator/crds/*.yaml
cp manifests/base/crds/*.yaml charts/walrus-operator/crds/
