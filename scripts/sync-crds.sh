#!/usr/bin/env sh
# Copies the hand-written CRDs (manifests/base/crds, the single source of truth) into the
# Helm chart. `make crds` runs it; tests/unit/operator/test_packaging.py fails when the
# copies differ.
set -eu
cd "$(dirname "$0")/.."
rm -f charts/walrus-operator/crds/*.yaml
cp manifests/base/crds/*.yaml charts/walrus-operator/crds/
