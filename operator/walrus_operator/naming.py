"""Names, labels and annotation keys of everything the operator creates or reads.

This is the one place that spells the API group, the child objects' names and the label
scheme, so the builders, the reconcilers and the tests agree on them. Pure: constants and
string functions only. Called by the builders, the reconcilers and the handlers.
"""

from __future__ import annotations

__all__ = [
    "ADMIN_KEY_FILE",
    "ADMIN_SECRET",
    "ANNOTATION_ADVANCE_EPOCH",
    "ANNOTATION_CERTIFICATE_SHA256",
    "ANNOTATION_CONFIG_HASH",
    "ANNOTATION_EXCLUDE",
    "ANNOTATION_FORCE_DELETE",
    "ANNOTATION_REPLAN_EPOCH",
    "API_GROUP",
    "API_VERSION",
    "CONFIG_VOLUME",
    "DATA_VOLUME",
    "FINALIZER",
    "GROUP_VERSION",
    "KEYS_VOLUME",
    "LABEL_NETWORK",
    "LABEL_NODE",
    "LABEL_POOL",
    "MANAGED_BY",
    "TLS_VOLUME",
    "ca_secret_name",
    "client_tls_secret_name",
    "config_map_name",
    "data_claim_name",
    "endpoint",
    "epoch_state_config_map",
    "keys_secret_name",
    "network_budget_name",
    "node_labels",
    "operator_tls_secret_name",
    "pdb_name",
    "pod_name",
    "pool_member_name",
    "pool_ordinal",
    "selector_labels",
    "service_name",
    "statefulset_name",
    "tls_secret_name",
]

API_GROUP = "walrus-k8s.io"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"

MANAGED_BY = "walrus-operator"
"""Value of `app.kubernetes.io/managed-by` and the server-side-apply field manager."""

FINALIZER = f"{API_GROUP}/operator"
"""The operator's finalizer (Kopf's, renamed). On a WalrusNode it holds deletion while the
node still owns shards; on networks and pools it only lets the operator stop their timers."""

LABEL_NETWORK = f"{API_GROUP}/network"
LABEL_NODE = f"{API_GROUP}/node"
LABEL_POOL = f"{API_GROUP}/pool"

ANNOTATION_FORCE_DELETE = f"{API_GROUP}/force-delete"
"""`"true"` on a WalrusNode lets it be deleted although its status says it owns shards."""

ANNOTATION_EXCLUDE = f"{API_GROUP}/exclude-from-committee"
"""`"true"` asks the epoch controller to leave this node out of the next committee.

Set by the pool controller on members it is about to remove (highest ordinals first); a
node so marked is deleted once its status reports that it owns no shards."""

ANNOTATION_ADVANCE_EPOCH = f"{API_GROUP}/advance-epoch"
"""On a WalrusNetwork: a value not seen before asks the epoch controller to start the next
epoch now instead of at the end of `spec.epochDurationSeconds` (any new value, e.g. a
timestamp: `kubectl annotate wnet devnet walrus-k8s.io/advance-epoch="$(date +%s)"
--overwrite`). The last value acted upon is kept in the network's epoch state."""

ANNOTATION_REPLAN_EPOCH = f"{API_GROUP}/replan-epoch"
"""On a WalrusNetwork in EpochChange: the number of the epoch being changed to ends that
change now as its deadline would (`kubectl annotate wnet devnet
walrus-k8s.io/replan-epoch=7 --overwrite`). A value naming another epoch does nothing, so
the annotation never acts twice."""

ADMIN_SECRET = "walrus-operator-admin"
"""The Secret, one per namespace with WalrusNodes, holding the operator's admin identity."""

ADMIN_KEY_FILE = "admin.key"
"""Its key: an Ed25519 private key (PKCS#8 PEM) whose public half every node's node.yaml
lists in `admin_public_keys`, so the operator may call the nodes' Admin API."""

ANNOTATION_CERTIFICATE_SHA256 = f"{API_GROUP}/certificate-sha256"
"""Pod-template annotation of a gateway: digest of the client certificate it presents, so a
re-issued certificate restarts its pods."""

ANNOTATION_CONFIG_HASH = f"{API_GROUP}/config-hash"
"""Pod-template annotation: digest of node.yaml, so a config change restarts the pod.

committee.yaml is deliberately left out: the node re-reads it while running."""

DATA_VOLUME = "data"
KEYS_VOLUME = "keys"
CONFIG_VOLUME = "config"
TLS_VOLUME = "tls"
"""The node's certificate Secret, mounted read-only at `node_config.TLS_DIR`."""


def ca_secret_name(network: str) -> str:
    """The network's CA: `ca.crt`, `ca.key` (docs/operator.md, "TLS")."""
    return f"{network}-ca"


def tls_secret_name(node: str) -> str:
    """The node's certificate, a `kubernetes.io/tls` Secret: `tls.crt`, `tls.key`, `ca.crt`."""
    return f"{node}-tls"


def client_tls_secret_name(network: str) -> str:
    """The network's client certificate (`kubernetes.io/tls`: `tls.crt`, `tls.key`,
    `ca.crt`): what gateways and users present to the nodes (they require one)."""
    return f"{network}-client-tls"


def operator_tls_secret_name(network: str) -> str:
    """The operator's client certificate for the network's nodes (`kubernetes.io/tls`)."""
    return f"{network}-operator-tls"


def statefulset_name(node: str) -> str:
    """The node's StatefulSet; its single pod is `<node>-0`."""
    return node


def service_name(node: str) -> str:
    """The headless Service that gives the pod its DNS name."""
    return node


def keys_secret_name(node: str) -> str:
    """The Secret holding `node.key` (docs/node-runtime.md)."""
    return f"{node}-keys"


def config_map_name(node: str) -> str:
    """The ConfigMap holding `node.yaml` and `committee.yaml` (docs/node-runtime.md)."""
    return f"{node}-config"


def pdb_name(node: str) -> str:
    """The per-node PodDisruptionBudget of older releases, deleted on sight."""
    return node


def epoch_state_config_map(network: str) -> str:
    """The ConfigMap holding a copy of the network's epoch state (not owned by the network,
    so it outlives it). The dot keeps it apart from every node's ConfigMap."""
    return f"{network}.epoch-state"


def network_budget_name(network: str) -> str:
    """The network's one PodDisruptionBudget over all its node pods. The dot keeps it apart
    from any node's name (node names are DNS labels, used as Service names)."""
    return f"{network}.shards"


def pod_name(node: str) -> str:
    """The single pod of the node's StatefulSet."""
    return f"{statefulset_name(node)}-0"


def data_claim_name(node: str) -> str:
    """The PVC the StatefulSet controller creates from the `data` claim template."""
    return f"{DATA_VOLUME}-{statefulset_name(node)}-0"


def endpoint(node: str, namespace: str, cluster_domain: str, port: int) -> str:
    """The node's stable gRPC address: its pod's DNS name under the headless Service."""
    return f"{pod_name(node)}.{service_name(node)}.{namespace}.svc.{cluster_domain}:{port}"


def pool_member_name(pool: str, ordinal: int) -> str:
    """Stable name of a pool's member: `<pool>-<ordinal>`."""
    return f"{pool}-{ordinal}"


def pool_ordinal(pool: str, node: str) -> int | None:
    """The ordinal of `node` in `pool`, or None if the name is not `<pool>-<int>`."""
    prefix = f"{pool}-"
    if not node.startswith(prefix):
        return None
    tail = node[len(prefix) :]
    if not tail.isdigit() or (len(tail) > 1 and tail.startswith("0")):
        return None
    return int(tail)


def selector_labels(node: str) -> dict[str, str]:
    """Labels that select the node's pod; stable for the node's lifetime (a STS selector)."""
    return {
        "app.kubernetes.io/name": "walrus-node",
        "app.kubernetes.io/instance": node,
    }


def node_labels(node: str, network: str, pool: str | None) -> dict[str, str]:
    """Kubernetes recommended labels plus the walrus-k8s.io ones, for every child object."""
    labels = {
        **selector_labels(node),
        "app.kubernetes.io/component": "storage-node",
        "app.kubernetes.io/part-of": "walrus",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_NETWORK: network,
        LABEL_NODE: node,
    }
    if pool is not None:
        labels[LABEL_POOL] = pool
    return labels
