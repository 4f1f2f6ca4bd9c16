#!/usr/bin/env bash
# The scenario suite (e2e/test_scenarios.py) on a kind cluster: `make e2e-kind`.
#
# Needs a Docker daemon (Linux: the host must reach the kind node's container IP) and
# root or password-less sudo, to route the cluster's pod network to the host: the suite's
# client talks to the storage nodes by pod IP, as it does on the local control plane.
#
#   1. kind (e2e/kind/install.sh) and a kind node image (e2e/kind/node-image.sh), built
#      here from Go modules and Debian packages, cached under ~/.cache/walrus-k8s and in
#      Docker; kubectl and helm (e2e/controlplane/install.sh);
#   2. a fresh cluster from e2e/kind/cluster.yaml on that node image, kind's `docker`
#      calls going through e2e/kind/shim;
#   3. both images built (docker/build.sh) unless built from the same sources before, a
#      variant B of the node image for the rolling change, all loaded into the cluster;
#   4. routes from the host to the node's pod CIDR and to the Services (for the cluster's
#      DNS, which the client uses to resolve the nodes' names);
#   5. the Helm chart installed, nodes addressed by DNS names, with short poll periods;
#   6. pytest on e2e/test_scenarios.py with WALRUS_E2E_BACKEND=kind.
#
# `run.sh demo` (make demo-kind) does steps 1-5, then applies the samples, stores and reads a
# blob with the `walrus` CLI and shows `kubectl get walrusnetworks,walrusnodes`.
#
# The cluster and the route are removed afterwards unless KEEP_CLUSTER=1.
#
# Environment:
#   KIND_CLUSTER   cluster name (default walrus-e2e)
#   KEEP_CLUSTER   1 to leave the cluster running after the run
#   PYTEST_ARGS    extra pytest arguments
#   WALRUS_E2E_KIND_SCOPE  `full` (default): every scenario; `short`: those marked
#                  kind_short (the kind tier of `make test`, to keep CI's time)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
MODE="${1:-test}"
[[ "$MODE" == test || "$MODE" == demo ]] || { echo "usage: $0 [test|demo]" >&2; exit 2; }
CLUSTER="${KIND_CLUSTER:-walrus-e2e}"
KIND_VERSION="v0.33.0"
CACHE="${WALRUS_K8S_CACHE:-$HOME/.cache/walrus-k8s}"
VERSION="$(awk '$1 == "appVersion:" { gsub(/"/, "", $2); print $2 }' charts/walrus-operator/Chart.yaml)"
NODE_IMAGE="walrus-node:$VERSION"          # the operator's default node image
OPERATOR_IMAGE="walrus-operator:$VERSION"  # the chart's default operator image
BIN="$ROOT/.venv/bin"

log() { echo "e2e-kind: $*" >&2; }
die() { log "$*"; exit 1; }

command -v docker >/dev/null || die "docker is not installed; the local backend is \`make e2e\`"
docker info >/dev/null 2>&1 || die "no Docker daemon answers; the local backend is \`make e2e\`"
[[ -x "$BIN/kubectl" && -x "$BIN/helm" ]] || die "run \`make tools\` first (make e2e-kind does)"
export PATH="$BIN:$PATH"

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    sudo -n true 2>/dev/null || die "routing the pod network needs root or password-less sudo"
    SUDO=(sudo -n)
fi

# One run at a time on this machine: the cluster's name, its pod range and the routes to
# it are shared (a second run waits for the first, including its clean-up).
mkdir -p "$CACHE"
exec 8>"$CACHE/.e2e-kind-run.lock"
if ! flock -n 8; then
    log "another e2e-kind run holds $CACHE/.e2e-kind-run.lock; waiting"
    flock 8
fi

# 1. kind, its node image and both project images, built here (no registry is reachable)
#    and cached (e2e/kind/prepare.sh; `make test` has usually run it in the background
#    already, and then this finds everything built).
prepared="$(bash e2e/kind/prepare.sh)"
KIND="$(awk '$1 == "kind" { print $2 }' <<<"$prepared")"
KIND_NODE_IMAGE="$(awk '$1 == "kind-node-image" { print $2 }' <<<"$prepared")"
SOURCE_TAG="$(awk '$1 == "source-tag" { print $2 }' <<<"$prepared")"
[[ -n "$KIND" && -n "$KIND_NODE_IMAGE" && -n "$SOURCE_TAG" ]] || die "e2e/kind/prepare.sh said: $prepared"
# kind asks Docker for --privileged containers; the shim translates that into what this
# machine's Docker can run (e2e/kind/shim/docker).
export PATH="$ROOT/e2e/kind/shim:$PATH"

# 2. A fresh cluster (a leftover one from an interrupted run is replaced).
KUBECONFIG="$(mktemp -t walrus-kind-kubeconfig.XXXXXX)"
export KUBECONFIG
"$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
ROUTE=""
SERVICE_ROUTE=""
cleanup() {
    for route in "$ROUTE" "$SERVICE_ROUTE"; do
        if [[ -n "$route" ]]; then
            # shellcheck disable=SC2086
            "${SUDO[@]}" ip route del $route 2>/dev/null || true
        fi
    done
    if [[ "${KEEP_CLUSTER:-0}" == 1 ]]; then
        log "cluster $CLUSTER kept; KUBECONFIG=$KUBECONFIG"
    else
        "$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
        rm -f "$KUBECONFIG"
    fi
}
trap cleanup EXIT
log "creating cluster $CLUSTER"
"$KIND" create cluster --name "$CLUSTER" --config e2e/kind/cluster.yaml \
    --image "$KIND_NODE_IMAGE" --kubeconfig "$KUBECONFIG" --wait 300s

# 3. Images, loaded into the node (no registry involved): the `src-<hash>` pair that
#    prepare.sh built or found, re-tagged as the chart's version; older `src-*` tags are
#    removed. walrus-node:B (NODE_IMAGE_B) is the same image with another label and
#    environment, for the rolling image change.
for repository in walrus-node walrus-operator; do
    docker tag "$repository:$SOURCE_TAG" "$repository:$VERSION"
    for old in $(docker images "$repository" --format '{{.Tag}}'); do
        if [[ "$old" == src-* && "$old" != "$SOURCE_TAG" ]]; then
            docker rmi "$repository:$old" >/dev/null || true
        fi
    done
done
NODE_IMAGE_B="walrus-node:$VERSION-b"
printf 'FROM %s\nLABEL walrus-k8s.io/e2e-variant=b\nENV WALRUS_E2E_VARIANT=b\n' "$NODE_IMAGE" |
    DOCKER_BUILDKIT=0 docker build --quiet --network none --tag "$NODE_IMAGE_B" - >/dev/null
"$KIND" load docker-image --name "$CLUSTER" "$NODE_IMAGE" "$OPERATOR_IMAGE" "$NODE_IMAGE_B"

# 4. The host reaches pods through the node's container.
node="$CLUSTER-control-plane"
node_ip="$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$node" | awk '{print $1}')"
pod_cidr="$(kubectl get node "$node" -o jsonpath='{.spec.podCIDR}')"
[[ -n "$node_ip" && -n "$pod_cidr" ]] || die "cannot find the node's IP ($node_ip) or pod CIDR ($pod_cidr)"
ROUTE="$pod_cidr via $node_ip"
log "routing $ROUTE"
"${SUDO[@]}" ip route replace $ROUTE
# ... and the cluster's Services (kube-proxy in the node forwards them), so that the
# client here resolves the nodes' DNS names with the cluster's DNS service.
service_cidr="$(kubectl -n kube-system get pod -l component=kube-apiserver -o json |
    python3 -c 'import json,sys; args=json.load(sys.stdin)["items"][0]["spec"]["containers"][0]["command"]; print(next(a.split("=",1)[1] for a in args if a.startswith("--service-cluster-ip-range=")))')"
SERVICE_ROUTE="$service_cidr via $node_ip"
log "routing $SERVICE_ROUTE"
"${SUDO[@]}" ip route replace $SERVICE_ROUTE
WALRUS_E2E_DNS_SERVER="$(kubectl -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}'):53"
export WALRUS_E2E_DNS_SERVER

# 5. The operator from the chart, as users install it (cluster-wide: the scenarios make
#    namespaces of their own); its two replicas ask for less CPU than the chart's default,
#    so that the scenarios' pods fit on the one two-core node. A rollout waits 15 s after
#    a restarted node is Ready (chart default 30 s): kind's CoreDNS caches nothing under
#    cluster.local, and a client's gRPC resolver retries a failed lookup of the restarted
#    node after 1, 2.6, 5.2, 9.4 and 16 s, so it finds the new pod within that.
helm upgrade --install walrus-operator charts/walrus-operator \
    --namespace walrus-system --create-namespace \
    --set rbac.clusterWide=true \
    --set endpointMode=dns \
    --set epochPollSeconds=1 \
    --set resyncSeconds=3 \
    --set deletionRetrySeconds=2 \
    --set rolloutSettleSeconds=15 \
    --set logFormat=plain \
    --set resources.requests.cpu=50m \
    --wait --timeout 300s

if [[ "$MODE" == test ]]; then
    # 6. The suite.
    log "running the scenarios"
    markers=e2e
    [[ "${WALRUS_E2E_KIND_SCOPE:-full}" == short ]] && markers="e2e and kind_short"
    # shellcheck disable=SC2086
    WALRUS_E2E_BACKEND=kind WALRUS_E2E_NODE_IMAGE_B="$NODE_IMAGE_B" "$BIN/pytest" -q -s \
        -m "$markers" e2e/test_scenarios.py ${PYTEST_ARGS:-}
    exit 0
fi

# The demo (`make demo-kind`): the samples applied, a blob stored and read back with the
# `walrus` CLI from this machine, the resources shown.
kubectl create namespace demo
kubectl -n demo apply -f manifests/samples/walrusnetwork.yaml
kubectl -n demo apply -f manifests/samples/walrusnodepool.yaml
log "waiting for the pool's nodes and the first committee"
deadline=$((SECONDS + 600))
until [[ "$(kubectl -n demo get walrusnetworks.walrus-k8s.io devnet \
    -o jsonpath='{.status.currentEpoch}/{.status.phase}' 2>/dev/null)" == 1/Stable ]]; do
    ((SECONDS < deadline)) || die "the network did not reach epoch 1 within 600 s"
    sleep 2
done
kubectl -n demo get walrusnetworks,walrusnodes
work="$(mktemp -d -t walrus-demo.XXXXXX)"
# Nodes serve mutual TLS: the client verifies each node under its name (name@ip:port)
# against the network's CA, with the network's client certificate (docs/operator.md, TLS).
for key in ca.crt tls.crt tls.key; do
    kubectl -n demo get secret devnet-client-tls \
        -o "go-template={{index .data \"$key\" | base64decode}}" > "$work/$key"
done
kubectl -n demo get pods -l walrus-k8s.io/node \
    -o jsonpath='{range .items[*]}{.metadata.labels.walrus-k8s\.io/node}@{.status.podIP}{"\n"}{end}' |
    awk -F@ 'NF == 2 && $2 != "" { printf "%s\"%s@%s:9185\"", (n++ ? ", " : "nodes: ["), $1, $2 }
        END { print "]" }' > "$work/client.yaml"
cat >> "$work/client.yaml" <<EOF
dns_server: "$WALRUS_E2E_DNS_SERVER"
tls_ca_file: ca.crt
tls_cert_file: tls.crt
tls_key_file: tls.key
EOF
head -c 3000000 /dev/urandom > "$work/blob.bin"
log "walrus store (3 MB)"
blob_id="$("$BIN/walrus" --config "$work/client.yaml" store "$work/blob.bin" --epochs 2)"
log "walrus read $blob_id"
"$BIN/walrus" --config "$work/client.yaml" read "$blob_id" -o "$work/copy.bin"
cmp "$work/blob.bin" "$work/copy.bin"
log "read back identical: $blob_id"
"$BIN/walrus" --config "$work/client.yaml" status "$blob_id"
kubectl -n demo get walrusnetworks,walrusnodes
rm -rf "$work"
