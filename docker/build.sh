#!/usr/bin/env bash
# Build the storage node and operator images here, with no registry and no network in
# the build: `docker/build.sh [node] [operator]` (both by default); prints "<image> <tag>"
# per image on stdout.
#
#   1. the base: Debian bookworm with python3 and python3-venv, made by debootstrap
#      (docker/debian-image.sh, cached by package list);
#   2. the wheels, built on the host from this checkout with the pinned constraints:
#      the node's (`walrus-k8s[node]`) and the operator's (`walrus-k8s[operator]`) apart,
#      so each image gets only what it runs; the codec's native wheel (walrus-native)
#      comes from scripts/native-wheel.sh (cached, built with cargo when sources change);
#   3. `docker build --network none` of docker/<image>.Dockerfile with those wheels as
#      the whole context (dependencies and the project's own wheel in separate layers).
#
# Tags: walrus-node:<version> and walrus-operator:<version>, the version being the
# chart's appVersion (what the chart and the operator default to), or $WALRUS_IMAGE_TAG.
#
# Environment:
#   WALRUS_IMAGE_TAG   tag of both images (default: the chart's appVersion)
#   PYTHON             Python with pip that builds the wheels (default: .venv/bin/python,
#                      else python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
APP_VERSION="$(awk '$1 == "appVersion:" { gsub(/"/, "", $2); print $2 }' charts/walrus-operator/Chart.yaml)"
TAG="${WALRUS_IMAGE_TAG:-$APP_VERSION}"
if [[ -z "${PYTHON:-}" ]]; then
    PYTHON="$ROOT/.venv/bin/python"
    [[ -x "$PYTHON" ]] || PYTHON=python3
fi
# The legacy builder: Debian's Docker has no BuildKit plugin, and it needs none here.
export DOCKER_BUILDKIT=0
log() { echo "images: $*" >&2; }

images=("$@")
[[ ${#images[@]} -gt 0 ]] || images=(node operator)

base="$(docker/debian-image.sh walrus-base python3 python3-venv)"
native="$(dirname "$(bash scripts/native-wheel.sh "$PYTHON")")"
stage="$(mktemp -d "${TMPDIR:-/tmp}/walrus-images.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

for image in "${images[@]}"; do
    case "$image" in
        node | operator) ;;
        *) log "unknown image $image (node or operator)"; exit 2 ;;
    esac
    start=$SECONDS
    context="$stage/$image"
    mkdir -p "$context"
    log "wheels for walrus-k8s[$image]"
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check -c constraints.txt \
        --find-links "$native" --wheel-dir "$context/deps" ".[$image]" >&2
    # The project's wheel apart, so that the dependencies' layer stays cached.
    mkdir -p "$context/project"
    mv "$context"/deps/walrus_k8s-*.whl "$context/project/"
    tag="walrus-$image:$TAG"
    log "building $tag from $base"
    docker build --quiet --network none --build-arg "BASE=$base" \
        --file "docker/$image.Dockerfile" --tag "$tag" "$context" >/dev/null
    size="$(docker image inspect --format '{{.Size}}' "$tag")"
    log "built $tag in $((SECONDS - start)) s, $((size / 1000000)) MB"
    echo "$image $tag"
done
