#!/usr/bin/env bash
# Build kind's base image here, from a debootstrap Debian root, kind's own base files and
# binaries built from Go modules; print its tag. `e2e/kind/node-image.sh base`
#
# No registry is reachable, so nothing is pulled: the Debian root comes from
# docker/debian-image.sh (systemd, containerd, runc and the network tools from Debian's
# packages), kind's base files (entrypoint, systemd units, containerd config) from the
# pinned kind module (downloaded through the Go module proxy, as `go install` of kind
# does), crictl and the CNI plugins from e2e/kind/install.sh. The image is tagged by a
# hash of all of its inputs, so an unchanged one is not rebuilt.
#
# Environment: WALRUS_K8S_CACHE, GO (as e2e/kind/install.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
KIND_VERSION="v0.33.0"
if [[ -z "${GO:-}" ]]; then
    GO="$(command -v go || echo /usr/local/go/bin/go)"
fi
export DOCKER_BUILDKIT=0
log() { echo "node-image: $*" >&2; }

# The Debian packages kind's base image installs, less those for rootless Docker, NFS,
# iSCSI and the fuse-overlayfs snapshotter, which a one-node test cluster does not use.
PACKAGES=(
    systemd systemd-sysv dbus containerd runc iptables iproute2 ethtool socat conntrack
    ebtables kmod ca-certificates procps libseccomp2 pigz util-linux mount bash nftables
)

tools=""
tool() { awk -v name="$1" '$1 == name { print $2 }' <<< "$tools"; }

base() {
    local debian kind_dir stage tag stamp
    tools="$(bash "$HERE/install.sh" base)"
    debian="$("$ROOT/docker/debian-image.sh" walrus-kind-debian "${PACKAGES[@]}")"
    kind_dir="$(cd /tmp && GOFLAGS= GOTOOLCHAIN=local "$GO" mod download -json \
        "sigs.k8s.io/kind@$KIND_VERSION" | awk -F'"' '$2 == "Dir" { print $4 }')"
    [[ -d "$kind_dir/images/base/files" ]] || { log "no images/base/files in $kind_dir"; exit 1; }
    stage="$(mktemp -d "${TMPDIR:-/tmp}/walrus-kind-base.XXXXXX")"
    trap 'rm -rf "$stage"' RETURN
    cp -r "$kind_dir/images/base/files" "$stage/files"
    chmod -R u+w "$stage/files"
    mkdir -p "$stage/bin" "$stage/cni"
    cp "$(tool crictl)" "$stage/bin/crictl"
    for plugin in bridge host-local loopback portmap; do
        cp "$(tool "cni-$plugin")" "$stage/cni/$plugin"
    done
    # containerd's default OCI spec with kind's hook that mounts the product files, and
    # no rlimits (kind's base does the same with jq).
    docker run --rm --network none --entrypoint ctr "$debian" oci spec > "$stage/spec.json"
    python3 - "$stage/spec.json" "$stage/cri-base.json" <<'EOF'
import json, sys
spec = json.load(open(sys.argv[1]))
spec.setdefault("hooks", {}).setdefault("createContainer", []).append(
    {"path": "/kind/bin/mount-product-files.sh"}
)
spec["process"].pop("rlimits", None)
json.dump(spec, open(sys.argv[2], "w"), indent=2)
EOF
    rm "$stage/spec.json"
    cp "$HERE/base.Dockerfile" "$stage/Dockerfile"
    stamp="$(cd "$stage" && find . -type f -print0 | sort -z | xargs -0 sha256sum |
        { cat; echo "$debian"; } | sha256sum | cut -c1-12)"
    tag="walrus-kind-base:$KIND_VERSION-$stamp"
    if ! docker image inspect "$tag" >/dev/null 2>&1; then
        log "building $tag"
        docker build --quiet --network none --build-arg "DEBIAN=$debian" --tag "$tag" "$stage" >/dev/null
    fi
    echo "$tag"
}

case "${1:-}" in
    base) base ;;
    *) echo "usage: $0 base" >&2; exit 2 ;;
esac
