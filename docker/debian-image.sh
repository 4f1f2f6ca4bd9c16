#!/usr/bin/env bash
# A Debian bookworm base image made here with debootstrap, for images that may not pull
# from any registry: `docker/debian-image.sh NAME PACKAGE...` prints the image's tag.
#
# The root filesystem is made once per (suite, package list, recipe) and cached as a tar
# file under $WALRUS_K8S_CACHE/debian/<stamp>/; the image `NAME:bookworm-<stamp>` is
# imported from it when Docker does not already have it. So a second call does nothing,
# and a machine whose Docker lost its images re-imports in seconds.
#
# The mirror is the host's own apt source (the first `URIs:`/`deb` line under /etc/apt),
# or $WALRUS_DEBIAN_MIRROR. The image's apt lists and caches are removed: images built on
# it install nothing from the network (their Dockerfiles only copy files in).
#
# Environment:
#   WALRUS_K8S_CACHE      cache root (default ~/.cache/walrus-k8s)
#   WALRUS_DEBIAN_MIRROR  Debian mirror URL (default: the host's apt source)
set -euo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 NAME [PACKAGE...]" >&2; exit 2; }
NAME="$1"
shift
PACKAGES=("$@")
SUITE=bookworm
RECIPE=1  # bump when the recipe below changes
CACHE="${WALRUS_K8S_CACHE:-$HOME/.cache/walrus-k8s}"
log() { echo "debian-image: $*" >&2; }

mirror() {
    if [[ -n "${WALRUS_DEBIAN_MIRROR:-}" ]]; then
        echo "$WALRUS_DEBIAN_MIRROR"
        return
    fi
    local url
    url="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }')"
    if [[ -z "$url" ]]; then
        url="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }')"
    fi
    [[ -n "$url" ]] || { log "no Debian mirror in /etc/apt; set WALRUS_DEBIAN_MIRROR"; exit 1; }
    echo "$url"
}

stamp="$(printf '%s\n' "$SUITE" "$RECIPE" "${PACKAGES[@]}" | sha256sum | cut -c1-12)"
tag="$NAME:$SUITE-$stamp"
dir="$CACHE/debian/$stamp"
mkdir -p "$CACHE/debian"

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag"
    exit 0
fi

# One builder per cache entry; a second caller waits and then finds the tar file.
exec 8>"$CACHE/debian/.$stamp.lock"
flock 8
if [[ ! -f "$dir/rootfs.tar" ]]; then
    command -v debootstrap >/dev/null || {
        [[ "$(id -u)" == 0 ]] || { log "debootstrap is not installed"; exit 1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 debootstrap >&2
    }
    log "debootstrap $SUITE with ${PACKAGES[*]:-nothing more} (a few minutes)"
    start=$SECONDS
    tmp="$(mktemp -d "$CACHE/debian/.$stamp.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    include=()
    if [[ ${#PACKAGES[@]} -gt 0 ]]; then
        include=("--include=$(IFS=,; echo "${PACKAGES[*]}")")
    fi
    debootstrap --variant=minbase "${include[@]}" "$SUITE" "$tmp/root" "$(mirror)" >"$tmp/log" 2>&1 || {
        tail -30 "$tmp/log" >&2
        log "debootstrap failed"
        exit 1
    }
    rm -rf "$tmp/root/var/lib/apt/lists/"* "$tmp/root/var/cache/apt/"*.bin \
        "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/log/"*.log
    tar --numeric-owner --xattrs -C "$tmp/root" -cf "$tmp/rootfs.tar" .
    rm -rf "$tmp/root"
    printf '%s\n' "${PACKAGES[@]}" > "$tmp/packages"
    mv "$tmp/log" "$tmp/debootstrap.log"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    trap - EXIT
    log "made the $SUITE root filesystem in $((SECONDS - start)) s"
fi
docker import --change 'CMD ["/bin/bash"]' "$dir/rootfs.tar" "$tag" >/dev/null
log "imported $tag"
echo "$tag"
