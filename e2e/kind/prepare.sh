#!/usr/bin/env bash
# What the kind tier needs before it makes a cluster, built and cached: kind and the kind
# node image (e2e/kind/install.sh, e2e/kind/node-image.sh) and both project images
# (docker/build.sh), tagged `src-<hash>` of the sources that go into them.
#
#   e2e/kind/prepare.sh      prints "kind <path>", "kind-node-image <tag>" and
#                            "source-tag <tag>" on stdout
#
# Makes no cluster and touches no network route, so it can run while other tests do:
# `make test` (scripts/test-phases.sh) starts it in the background beside the unit tier,
# and e2e/kind/run.sh calls it again, which then finds everything built. Two runs at once
# take turns (a lock under the cache directory).
#
# Images are built once per content of what goes into them: the hash covers every file of
# the checkout but the tests, the docs, the deployment manifests, scripts and the Makefile
# (tracked or not, ignored files left out). An existing `src-<hash>` pair is reused.
#
# Environment: WALRUS_K8S_CACHE (default ~/.cache/walrus-k8s), as the install scripts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CACHE="${WALRUS_K8S_CACHE:-$HOME/.cache/walrus-k8s}"
log() { echo "e2e-kind prepare: $*" >&2; }

mkdir -p "$CACHE"
exec 7>"$CACHE/.e2e-kind-prepare.lock"
if ! flock -n 7; then
    log "another preparation holds $CACHE/.e2e-kind-prepare.lock; waiting"
    flock 7
fi

started=$SECONDS
KIND="$(bash e2e/kind/install.sh base | awk '$1 == "kind" { print $2 }')"
log "kind binaries: $((SECONDS - started)) s"
step=$SECONDS
KIND_NODE_IMAGE="$(bash e2e/kind/node-image.sh node)"
log "kind node image $KIND_NODE_IMAGE: $((SECONDS - step)) s"

step=$SECONDS
source_hash="$(git ls-files -z --cached --others --exclude-standard |
    grep -zvE '^(tests|e2e|docs|manifests|charts|scripts|\.ci)/|^Makefile$|\.md$' |
    sort -z | while IFS= read -r -d '' f; do [[ -f "$f" ]] && printf '%s\0' "$f"; done |
    xargs -0 sha256sum | sha256sum | cut -c1-12)"
SOURCE_TAG="src-$source_hash"
if docker image inspect "walrus-node:$SOURCE_TAG" "walrus-operator:$SOURCE_TAG" >/dev/null 2>&1; then
    log "reusing walrus-node:$SOURCE_TAG and walrus-operator:$SOURCE_TAG (same sources)"
else
    log "building walrus-node:$SOURCE_TAG and walrus-operator:$SOURCE_TAG"
    WALRUS_IMAGE_TAG="$SOURCE_TAG" bash docker/build.sh >/dev/null
fi
log "project images: $((SECONDS - step)) s; all: $((SECONDS - started)) s"

echo "kind $KIND"
echo "kind-node-image $KIND_NODE_IMAGE"
echo "source-tag $SOURCE_TAG"
