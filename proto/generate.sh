#!/usr/bin/env bash
# Regenerates the Python protobuf/gRPC code and its type stubs from proto/ into node/.
# Usage: proto/generate.sh [OUT_DIR]   (default: node/; CI generates into a temp dir and diffs)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/node}"
py="${PYTHON:-$root/.venv/bin/python}"
cd "$root/proto"
mapfile -t files < <(find walrus_proto -name '*.proto' | sort)
"$py" -m grpc_tools.protoc -I. \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  --plugin=protoc-gen-mypy="$(dirname "$py")/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$(dirname "$py")/protoc-gen-mypy_grpc" \
  "${files[@]}"
for d in $(cd "$out" && find walrus_proto -type d); do
  [ -f "$out/$d/__init__.py" ] || : > "$out/$d/__init__.py"
done
