#!/usr/bin/env bash
# CI from nothing: `.ci/run` in a fresh clone of a commit, with every cache this project
# uses empty, and this project's Docker images removed first. Prints the wall time of
# each phase and in all, then removes everything it made.
#
#   scripts/ci-cold.sh [COMMIT]          default: HEAD of this checkout
#
# Caches pointed at new empty directories under one temporary directory:
#   WALRUS_K8S_CACHE     the Kubernetes, kind and helm binaries, the Debian roots (debootstrap)
#   GOCACHE, GOMODCACHE  Go's build and module caches
#   WALRUS_NATIVE_CACHE  the codec's native wheel (scripts/native-wheel.sh)
#   CARGO_HOME           cargo's registry and git caches (the toolchain stays where it is)
#   PIP_CACHE_DIR        pip's cache
#   WALRUS_E2E_DIR       the e2e tier's run directory
# and the Docker images this project builds removed from the daemon: walrus-* (the Debian
# bases, kind's base and node images, the node and operator images) and registry.k8s.io/*
# (the control-plane component images, built here: no registry is reachable). The images
# the run builds are left in Docker afterwards (the next warm run uses them).
#
# Run it on a quiet machine: it measures. It takes the machine's two cores for about an
# hour (docs/e2e.md, "CI times").
#
# Options (to try the mechanics without a full run):
#   --command CMD   run CMD in the clone instead of `bash .ci/run` (e.g. 'make lint')
#   --keep-images   do not remove the project's Docker images
#   --keep          keep the temporary directory (its path is printed)
set -euo pipefail

command=(bash .ci/run)
keep_images=0
keep=0
commit=HEAD
while [[ $# -gt 0 ]]; do
    case "$1" in
        --command) command=(bash -c "$2"); shift 2 ;;
        --keep-images) keep_images=1; shift ;;
        --keep) keep=1; shift ;;
        -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
        -*) echo "ci-cold: unknown option $1" >&2; exit 2 ;;
        *) commit="$1"; shift ;;
    esac
done

log() { echo "ci-cold: $*" >&2; }
REPO="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
sha="$(git -C "$REPO" rev-parse --verify "$commit^{commit}")"
work="$(mktemp -d "${TMPDIR:-/tmp}/walrus-ci-cold.XXXXXX")"

cleanup() {
    local rc=$?
    if [[ "$keep" == 1 ]]; then
        log "kept $work"
    else
        # Go's module cache is read-only on purpose; make it removable first.
        chmod -R u+w "$work" 2>/dev/null || true
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "commit $sha; everything under $work"
git clone --quiet --no-local --no-checkout "$REPO" "$work/src"
git -C "$work/src" checkout --quiet --detach "$sha"

cargo_bin="$(dirname "$(command -v cargo 2>/dev/null || echo /nonexistent/cargo)")"
mkdir -p "$work/cache/k8s" "$work/cache/go-build" "$work/cache/go-mod" "$work/cache/native" \
    "$work/cache/cargo" "$work/cache/pip" "$work/e2e-run"
export WALRUS_K8S_CACHE="$work/cache/k8s"
export GOCACHE="$work/cache/go-build"
export GOMODCACHE="$work/cache/go-mod"
export WALRUS_NATIVE_CACHE="$work/cache/native"
export CARGO_HOME="$work/cache/cargo"
export PIP_CACHE_DIR="$work/cache/pip"
export WALRUS_E2E_DIR="$work/e2e-run"
# The toolchain's own binaries (rustup's proxies) stay reachable with CARGO_HOME moved.
[[ -d "$cargo_bin" ]] && export PATH="$cargo_bin:$PATH"
export CI=true

if [[ "$keep_images" == 0 ]] && docker info >/dev/null 2>&1; then
    mapfile -t images < <(docker images --format '{{.Repository}}:{{.Tag}}' |
        grep -E '^(walrus-|registry\.k8s\.io/)' || true)
    if [[ ${#images[@]} -gt 0 ]]; then
        log "removing ${#images[@]} project images: ${images[*]}"
        docker rmi --force "${images[@]}" >/dev/null
    fi
    docker image prune --force >/dev/null
elif [[ "$keep_images" == 0 ]]; then
    log "no Docker daemon answers yet: no images to remove (.ci/run starts one)"
fi

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
started=$SECONDS
set +e
(cd "$work/src" && /usr/bin/time -v "${command[@]}" </dev/null) 2>&1 | tee "$work/run.log"
rc=${PIPESTATUS[0]}
set -e
wall=$((SECONDS - started))

{
    echo
    echo "ci-cold: commit $sha, caches empty, project images removed: $([[ $keep_images == 1 ]] && echo no || echo yes)"
    # The per-phase table that `make test` prints (scripts/test-phases.sh).
    sed -n '/^make test: phases/,/^  total/p' "$work/run.log"
    grep -E 'User time|System time|Elapsed \(wall|Maximum resident' "$work/run.log" | tail -n 4
    printf 'ci-cold: %s in %d min %02d s (exit %d); load average after: %s\n' \
        "${command[*]}" "$((wall / 60))" "$((wall % 60))" "$rc" "$(cut -d' ' -f1-3 /proc/loadavg)"
} >&2
exit "$rc"
