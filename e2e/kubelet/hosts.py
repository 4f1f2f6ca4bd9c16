"""Each pod's /etc/hosts: the names cluster DNS would give the pods on this Node.

There is no cluster DNS here. In a mount namespace the stand-in can do what the kubelet
does for every pod anyway: mount a hosts file of its own making at /etc/hosts. Beyond
localhost and the pod's own name, it lists every pod on the Node that has a `subdomain`
(StatefulSet pods: hostname = pod name, subdomain = the StatefulSet's serviceName) under
the names a headless Service gives it: `<hostname>.<subdomain>.<namespace>.svc.cluster.local`
and its shorter forms. So pods reach each other by those names, as in a cluster. The
Service itself is not looked at. Called by `e2e.kubelet.pod`, which rewrites the file
(in place: it is bind-mounted) when the Node's pods change.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from e2e import kubeapi

CLUSTER_DOMAIN = "cluster.local"


def names(pod: kubeapi.JSON) -> list[str]:
    """The DNS names of a pod, longest first; just its hostname without a subdomain."""
    spec = pod["spec"]
    hostname = spec.get("hostname") or pod["metadata"]["name"]
    subdomain = spec.get("subdomain")
    if not subdomain:
        return [hostname]
    namespace = pod["metadata"].get("namespace", "default")
    service = f"{hostname}.{subdomain}.{namespace}.svc"
    return [
        f"{service}.{CLUSTER_DOMAIN}",
        service,
        f"{hostname}.{subdomain}.{namespace}",
        f"{hostname}.{subdomain}",
    ]


def render(own_ip: str, own: kubeapi.JSON, peers: Iterable[tuple[str, kubeapi.JSON]]) -> str:
    lines = [
        "# Managed by the kubelet stand-in (e2e/kubelet/hosts.py).",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]
    own_names = names(own)
    hostname = own["spec"].get("hostname") or own["metadata"]["name"]
    if hostname not in own_names:
        own_names.append(hostname)
    lines.append(f"{own_ip}\t{' '.join(own_names)}")
    own_uid = own["metadata"].get("uid")
    for ip, pod in sorted(peers, key=lambda peer: names(peer[1])[0]):
        if pod["metadata"].get("uid") != own_uid and pod["spec"].get("subdomain") and ip:
            lines.append(f"{ip}\t{' '.join(names(pod))}")
    return "\n".join(lines) + "\n"


def write(path: Path, content: str) -> None:
    """Write `content` into `path` in place (a bind mount follows the inode, not the name)."""
    if path.exists() and path.read_text() == content:
        return
    with path.open("a+") as out:
        out.seek(0)
        out.truncate()
        out.write(content)
