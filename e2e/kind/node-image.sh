#!/usr/bin/env bash
# Build kind's images here and print the tag: `e2e/kind/node-image.sh base|node`.
#
#   base  kind's base image: a debootstrap Debian root, kind's own base files and
#         binaries built from Go modules;
#   node  the node image on it: kubelet, kubeadm and kubectl; the images kubeadm's
#         control plane runs (kube-apiserver, kube-controller-manager, kube-scheduler,
#         kube-proxy, etcd, CoreDNS, pause), each built here from its binary and
#         imported into the node's containerd; the local-path provisioner as default
#         storage (storage.yaml); a bridge CNI configuration for the node's pod range
#         (cni.conflist), since kind's own CNI, kindnet, is served by no registry or
#         module proxy reachable here.
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
    # containerd's default OCI spec without rlimits, as kind's base makes it, but without
    # kind's hook that gives each node its own product_uuid (it needs jq, and a one-node
    # cluster has no two nodes to tell apart).
    docker run --rm --network none --entrypoint ctr "$debian" oci spec > "$stage/spec.json"
    python3 - "$stage/spec.json" "$stage/cri-base.json" <<'EOF'
import json, sys
spec = json.load(open(sys.argv[1]))
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


# component NAME TAG FROM BINARY...: an image TAG, FROM scratch or a base, holding the
# binaries in /usr/local/bin, the first one its entrypoint. Appends TAG to `built`.
component() {
    local name="$1" tag="$2" from="$3" dir binary
    shift 3
    dir="$stage/images/$name"
    mkdir -p "$dir"
    {
        echo "FROM $from"
        for binary in "$@"; do
            cp "$binary" "$dir/"
            echo "COPY $(basename "$binary") /usr/local/bin/$(basename "$binary")"
        done
        if [[ "$name" == proxy ]]; then
            cp "$HERE/iptables-wrapper" "$dir/"
            echo "COPY iptables-wrapper /usr/sbin/iptables-wrapper"
            echo "RUN for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do ln -sf iptables-wrapper /usr/sbin/\$t; done"
        fi
        echo "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
        echo "ENTRYPOINT [\"/usr/local/bin/$(basename "$1")\"]"
    } > "$dir/Dockerfile"
    docker build --quiet --network none --tag "$tag" "$dir" >/dev/null
    built+=("$tag")
}

node() {
    local base_tag debian kube_version stamp tag sandbox provisioner helper image
    local images=()
    built=()
    container=""
    base_tag="$(base)"
    debian="$("$ROOT/docker/debian-image.sh" walrus-kind-debian "${PACKAGES[@]}")"
    tools="$(bash "$ROOT/e2e/controlplane/install.sh"; bash "$HERE/install.sh")"
    kube_version="$("$(tool kubeadm)" version -o short)"
    stamp="$({
        echo "$base_tag $kube_version"
        cat "$HERE/node-image.sh" "$HERE/storage.yaml" "$HERE/cni.conflist" "$HERE/iptables-wrapper"
        for t in kubelet kubeadm kubectl kube-apiserver kube-controller-manager \
            kube-scheduler kube-proxy kind-etcd coredns pause local-path-provisioner; do
            sha256sum < "$(tool "$t")"
        done
    } | sha256sum | cut -c1-12)"
    tag="walrus-kind-node:$kube_version-$stamp"
    if docker image inspect "$tag" >/dev/null 2>&1; then
        echo "$tag"
        return
    fi
    log "building $tag"
    stage="$(mktemp -d "${TMPDIR:-/tmp}/walrus-kind-node.XXXXXX")"
    trap 'rm -rf "$stage"; [[ -z "$container" ]] || docker rm -f -v "$container" >/dev/null 2>&1' RETURN

    # The images kubeadm's control plane runs, under the names kubeadm asks for.
    mapfile -t images < <("$(tool kubeadm)" config images list --kubernetes-version "$kube_version")
    for image in "${images[@]}"; do
        case "$image" in
            */kube-apiserver:*) component apiserver "$image" scratch "$(tool kube-apiserver)" ;;
            */kube-controller-manager:*)
                component controller-manager "$image" scratch "$(tool kube-controller-manager)" ;;
            */kube-scheduler:*) component scheduler "$image" scratch "$(tool kube-scheduler)" ;;
            # kube-proxy programs iptables: it needs the Debian userland.
            */kube-proxy:*) component proxy "$image" "$debian" "$(tool kube-proxy)" ;;
            */etcd:*) component etcd "$image" scratch "$(tool kind-etcd)" ;;
            */coredns:*) component coredns "$image" scratch "$(tool coredns)" ;;
            */pause:*) component pause "$image" scratch "$(tool pause)" ;;
            *) log "kubeadm asks for $image, which this script does not build"; exit 1 ;;
        esac
    done
    # containerd's sandbox image, under the name kind's containerd configuration gives it.
    sandbox="$(docker run --rm --network none --entrypoint cat "$base_tag" \
        /etc/containerd/config.toml | awk -F'"' '/sandbox_image/ { print $2 }')"
    docker tag "$(printf '%s\n' "${built[@]}" | grep '/pause:')" "$sandbox"
    built+=("$sandbox")
    provisioner="walrus-kind/local-path-provisioner:$kube_version"
    helper="walrus-kind/local-path-helper:$kube_version"
    component local-path "$provisioner" scratch "$(tool local-path-provisioner)"
    docker tag "$debian" "$helper"
    built+=("$helper")
    docker save -o "$stage/images.tar" "${built[@]}"
    sed -e "s|__PROVISIONER_IMAGE__|$provisioner|g" -e "s|__HELPER_IMAGE__|$helper|g" \
        "$HERE/storage.yaml" > "$stage/default-storage.yaml"

    # As kind's own node image build does: a container of the base image kept alive by
    # sleep, the binaries copied in, containerd started by hand to import the images
    # (not unpacked: the node's containerd unpacks them into its own /var), committed.
    container="$(docker run --detach --network none --entrypoint sleep \
        --security-opt seccomp=unconfined "$base_tag" infinity)"
    for binary in kubelet kubeadm kubectl; do
        docker cp "$(tool "$binary")" "$container:/usr/bin/$binary"
    done
    docker exec "$container" mkdir -p /kind/manifests /etc/cni/net.d
    docker cp "$stage/default-storage.yaml" "$container:/kind/manifests/default-storage.yaml"
    docker cp "$HERE/cni.conflist" "$container:/etc/cni/net.d/10-walrus-bridge.conflist"
    docker exec "$container" sh -c "echo $kube_version > /kind/version"
    docker cp "$stage/images.tar" "$container:/images.tar"
    docker exec "$container" bash -c '
        set -e
        nohup containerd > /tmp/containerd.log 2>&1 &
        for _ in $(seq 1 60); do ctr info >/dev/null 2>&1 && break; sleep 1; done
        ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned \
            --all-platforms --no-unpack --digests /images.tar >/dev/null
        pkill -x containerd
        for _ in $(seq 1 30); do pgrep -x containerd >/dev/null || break; sleep 1; done
        rm -f /images.tar /tmp/containerd.log'
    docker commit --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
        "$container" "$tag" >/dev/null
    log "built $tag"
    # Older node images (1.4 GB each) are of no further use; one a cluster still runs
    # on stays (docker refuses to remove it).
    for old in $(docker images walrus-kind-node --format '{{.Tag}}'); do
        if [[ "walrus-kind-node:$old" != "$tag" ]]; then
            docker rmi "walrus-kind-node:$old" >/dev/null 2>&1 || true
        fi
    done
    echo "$tag"
}

case "${1:-}" in
    base) base ;;
    node) node ;;
    *) echo "usage: $0 base|node" >&2; exit 2 ;;
esac
