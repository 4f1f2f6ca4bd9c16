#!/usr/bin/env bash
# Build what a kind cluster needs, from sources reachable here, and print where it is.
#
# Beside e2e/controlplane/install.sh (whose lock, cache and pinned Kubernetes module it
# shares), this builds:
#   kind                      sigs.k8s.io/kind, the pinned release
#   kubelet kubeadm kube-proxy kube-scheduler
#                             the pinned k8s.io/kubernetes (kubemod/go.mod, the same
#                             version as e2e/controlplane/gomod)
#   pause                     the pinned module's build/pause/linux/pause.c, static
#   crictl                    sigs.k8s.io/cri-tools
#   bridge host-local loopback portmap
#                             github.com/containernetworking/plugins
#   etcd                      go.etcd.io/etcd/server/v3 (pinned in etcdmod/go.mod)
#   coredns                   github.com/coredns/coredns (pinned in corednsmod/go.mod), with
#                             only the plugins kind's Corefile uses (corednsmod/main.go)
#   local-path-provisioner    github.com/rancher/local-path-provisioner
# each into $WALRUS_K8S_CACHE/<tool>-<version>/ (one directory per tool and version, so
# a second run builds nothing). Go modules come through the module proxy; nothing else
# is downloaded.
#
# `install.sh base` builds only kind, crictl and the CNI plugins (what kind's base image
# needs); `install.sh` builds everything.
#
# Output (stdout): one "<tool> <absolute path>" line per binary. Progress goes to stderr.
#
# Environment: as e2e/controlplane/install.sh (WALRUS_K8S_CACHE, WALRUS_K8S_BUILD_JOBS, GO).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${WALRUS_K8S_CACHE:-$HOME/.cache/walrus-k8s}"
JOBS="${WALRUS_K8S_BUILD_JOBS:-$(nproc)}"
if [[ -z "${GO:-}" ]]; then
    GO="$(command -v go || echo /usr/local/go/bin/go)"
fi

# The node's Kubernetes binaries come from kubemod/go.mod: the control plane's wrapper
# module (e2e/controlplane/gomod, same version and replacements) with the node's commands
# as its tools, tidied, so that its go.sum covers their dependencies.
KUBE_MOD_DIR="$HERE/kubemod"
KUBE_VERSION="$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$KUBE_MOD_DIR/go.mod")"
KIND_VERSION="v0.33.0"
CRICTL_VERSION="v1.37.0"
CNI_VERSION="v1.10.0"
# CoreDNS: the version kubeadm of KUBE_VERSION deploys, pinned in corednsmod/go.mod.
COREDNS_MOD_DIR="$HERE/corednsmod"
COREDNS_VERSION="$(awk '$1 == "require" && $2 == "github.com/coredns/coredns" {print $3}' "$COREDNS_MOD_DIR/go.mod")"
LOCAL_PATH_VERSION="v0.0.30"
# etcd: kubeadm probes /livez and /readyz, which the etcd of e2e/controlplane (3.5.1, from
# PyPI) lacks; this one is built from the Go modules pinned in etcdmod/go.mod.
ETCD_MOD_DIR="$HERE/etcdmod"
ETCD_VERSION="$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$ETCD_MOD_DIR/go.mod")"

log() { echo "kind/install.sh: $*" >&2; }

export GOTOOLCHAIN=local
export CGO_ENABLED=0
GO_FLAGS=(-trimpath -p "$JOBS")

WHAT="${1:-all}"
[[ "$WHAT" == base || "$WHAT" == all ]] || { echo "usage: $0 [base|all]" >&2; exit 2; }

kind_dir="$CACHE/kind-$KIND_VERSION"
crictl_dir="$CACHE/crictl-$CRICTL_VERSION"
cni_dir="$CACHE/cni-plugins-$CNI_VERSION"
print_base() {
    echo "kind $kind_dir/kind"
    echo "crictl $crictl_dir/crictl"
    for plugin in bridge host-local loopback portmap; do
        echo "cni-$plugin $cni_dir/$plugin"
    done
}

RECIPE=1
ready() { [[ -f "$1/.stamp" && "$(cat "$1/.stamp")" == "$2" ]]; }

# What kind's base image needs, when already built, without waiting for a build of the rest.
if [[ "$WHAT" == base ]] && ready "$kind_dir" "$RECIPE-$KIND_VERSION" &&
    ready "$crictl_dir" "$RECIPE-$CRICTL_VERSION" && ready "$cni_dir" "$RECIPE-$CNI_VERSION"; then
    print_base
    exit 0
fi

mkdir -p "$CACHE"
# One builder of these tools at a time (the control plane's install.sh has its own lock;
# the two share only Go's build cache, which is safe to share).
exec 9>"$CACHE/.install-kind.lock"
flock 9

publish() {
    chmod 755 "$1"
    echo "$3" > "$1/.stamp"
    rm -rf "$2"
    mv "$1" "$2"
}

# go_install DIR STAMP NAME PACKAGE@VERSION [LDFLAGS]: one `go install` into DIR
go_install() {
    local dir="$1" stamp="$2" name="$3" pkg="$4" ldflags="${5:--s -w}"
    if ready "$dir" "$stamp"; then
        return
    fi
    log "building $name ($pkg)"
    local start=$SECONDS tmp
    tmp="$(mktemp -d "$CACHE/.$name.XXXXXX")"
    (cd "$tmp" && GOBIN="$tmp" GOFLAGS= "$GO" install "${GO_FLAGS[@]}" -ldflags "$ldflags" "$pkg")
    publish "$tmp" "$dir" "$stamp"
    log "built $name in $((SECONDS - start)) s"
}

go_install "$kind_dir" "$RECIPE-$KIND_VERSION" kind "sigs.k8s.io/kind@$KIND_VERSION"

go_install "$crictl_dir" "$RECIPE-$CRICTL_VERSION" crictl \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" \
    "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"

cni_stamp="$RECIPE-$CNI_VERSION"
if ! ready "$cni_dir" "$cni_stamp"; then
    log "building CNI plugins $CNI_VERSION"
    start=$SECONDS
    tmp="$(mktemp -d "$CACHE/.cni.XXXXXX")"
    (cd "$tmp" && GOBIN="$tmp" GOFLAGS= "$GO" install "${GO_FLAGS[@]}" -ldflags "-s -w" \
        "github.com/containernetworking/plugins/plugins/main/bridge@$CNI_VERSION" \
        "github.com/containernetworking/plugins/plugins/main/loopback@$CNI_VERSION" \
        "github.com/containernetworking/plugins/plugins/ipam/host-local@$CNI_VERSION" \
        "github.com/containernetworking/plugins/plugins/meta/portmap@$CNI_VERSION")
    publish "$tmp" "$cni_dir" "$cni_stamp"
    log "built CNI plugins in $((SECONDS - start)) s"
fi

if [[ "$WHAT" == base ]]; then
    print_base
    exit 0
fi

# CoreDNS with only the plugins kind's Corefile uses (corednsmod/main.go), not CoreDNS's
# own main with every plugin it ships and the cloud SDKs they import.
coredns_dir="$CACHE/coredns-$COREDNS_VERSION"
coredns_stamp="$({ cat "$COREDNS_MOD_DIR/go.mod" "$COREDNS_MOD_DIR/go.sum" "$COREDNS_MOD_DIR/main.go"; echo "$RECIPE"; } | sha256sum | cut -c1-16)"
if ! ready "$coredns_dir" "$coredns_stamp"; then
    log "building coredns $COREDNS_VERSION (kind's plugins only)"
    start=$SECONDS
    tmp="$(mktemp -d "$CACHE/.coredns.XXXXXX")"
    (cd "$COREDNS_MOD_DIR" && "$GO" build "${GO_FLAGS[@]}" -mod=readonly -ldflags "-s -w" \
        -o "$tmp/coredns" .)
    publish "$tmp" "$coredns_dir" "$coredns_stamp"
    log "built coredns in $((SECONDS - start)) s"
fi

lpp_dir="$CACHE/local-path-provisioner-$LOCAL_PATH_VERSION"
go_install "$lpp_dir" "$RECIPE-$LOCAL_PATH_VERSION" local-path-provisioner \
    "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"

etcd_dir="$CACHE/etcd-$ETCD_VERSION"
etcd_stamp="$({ cat "$ETCD_MOD_DIR/go.mod" "$ETCD_MOD_DIR/go.sum"; echo "$RECIPE"; } | sha256sum | cut -c1-16)"
if ! ready "$etcd_dir" "$etcd_stamp"; then
    log "building etcd $ETCD_VERSION"
    start=$SECONDS
    tmp="$(mktemp -d "$CACHE/.etcd.XXXXXX")"
    (cd "$ETCD_MOD_DIR" && "$GO" build "${GO_FLAGS[@]}" -mod=readonly -ldflags "-s -w" \
        -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
    publish "$tmp" "$etcd_dir" "$etcd_stamp"
    log "built etcd in $((SECONDS - start)) s"
fi

node_dir="$CACHE/kubernetes-node-$KUBE_VERSION"
node_stamp="$({ cat "$KUBE_MOD_DIR/go.mod" "$KUBE_MOD_DIR/go.sum"; echo "$RECIPE"; } | sha256sum | cut -c1-16)"
if ! ready "$node_dir" "$node_stamp"; then
    log "building kubelet, kubeadm, kube-proxy, kube-scheduler $KUBE_VERSION (slow when cold)"
    start=$SECONDS
    tmp="$(mktemp -d "$CACHE/.kubernetes-node.XXXXXX")"
    minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    (cd "$KUBE_MOD_DIR" && "$GO" build "${GO_FLAGS[@]}" -mod=readonly -ldflags "$ldflags" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kubelet \
        k8s.io/kubernetes/cmd/kubeadm \
        k8s.io/kubernetes/cmd/kube-proxy \
        k8s.io/kubernetes/cmd/kube-scheduler)
    # pause: the sandbox process of every pod, from the same module's C source.
    pause_src="$("$GO" env GOMODCACHE)/k8s.io/kubernetes@$KUBE_VERSION/build/pause/linux/pause.c"
    (cd "$KUBE_MOD_DIR" && "$GO" mod download k8s.io/kubernetes >/dev/null)
    gcc -Os -static -DVERSION="$KUBE_VERSION" -o "$tmp/pause" "$pause_src"
    strip "$tmp/pause"
    publish "$tmp" "$node_dir" "$node_stamp"
    log "built the node's kubernetes binaries in $((SECONDS - start)) s"
fi

print_base
for tool in kubelet kubeadm kube-proxy kube-scheduler pause; do
    echo "$tool $node_dir/$tool"
done
echo "coredns $coredns_dir/coredns"
echo "local-path-provisioner $lpp_dir/local-path-provisioner"
echo "kind-etcd $etcd_dir/etcd"
