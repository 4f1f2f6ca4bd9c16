#!/usr/bin/env bash
# Print the path of the walrus-native wheel (native/), building it only when no wheel of
# exactly these sources is cached: `scripts/native-wheel.sh [python]`.
#
# The cache key is a hash of every file that goes into the build (native/src/*.rs,
# Cargo.toml, Cargo.lock, pyproject.toml, the .pyi stub), so a warm `make venv` does not
# run cargo. Builds use maturin (pinned in constraints.txt) and cargo; crates come from
# crates.io at the versions in Cargo.lock (--locked).
#
# Environment:
#   WALRUS_NATIVE_CACHE  cache directory (default: ~/.cache/walrus-native)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${1:-python3}"
CACHE="${WALRUS_NATIVE_CACHE:-$HOME/.cache/walrus-native}"
[[ -d "$HOME/.cargo/bin" ]] && export PATH="$PATH:$HOME/.cargo/bin"

cd "$ROOT/native"
key="$(find src Cargo.toml Cargo.lock pyproject.toml walrus_native.pyi -type f | LC_ALL=C sort |
    while read -r f; do printf '%s\n' "$f"; sha256sum < "$f"; done | sha256sum | cut -c1-20)"
dir="$CACHE/$key"
if ! compgen -G "$dir/*.whl" >/dev/null; then
    echo "native: building walrus-native ($key)" >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -c "$ROOT/constraints.txt" maturin >&2
    mkdir -p "$CACHE"
    tmp="$(mktemp -d "$CACHE/.build.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    nice -n 10 "$PYTHON" -m maturin build --quiet --release --locked --interpreter "$PYTHON" \
        --out "$tmp" >&2
    # Published whole or not at all: a concurrent build of the same key loses the rename.
    mv -T "$tmp" "$dir" 2>/dev/null || true
fi
compgen -G "$dir/*.whl" | head -n 1
