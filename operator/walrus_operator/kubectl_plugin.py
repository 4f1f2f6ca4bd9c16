"""`kubectl walrus`: a Walrus network at a glance, for the person on call.

Installed as the `kubectl-walrus` console script, which kubectl runs as a plugin:

```
kubectl walrus status [NETWORK] [-n NS]   networks, their epoch and phase, shards offline
                                          against f, and every node's state
kubectl walrus epoch NETWORK [--advance]  the epoch, its phase and timing; --advance asks
                                          for the next epoch now (the advance-epoch annotation)
kubectl walrus rollout NETWORK            which nodes run their current pod spec
kubectl walrus drain K8S-NODE             cordon a Kubernetes node and evict the walrus pods
                                          on it through the Eviction API, so every disruption
                                          budget holds; waits (--timeout) while a budget refuses
```

It reads and writes through `kubectl` itself (the same kubeconfig, context and
credentials; `--kubeconfig` and `--context` pass through), so it needs nothing the user's
kubectl does not have. The tables are built by pure functions (`status_table`,
`rollout_table`, `epoch_text`) from the objects as JSON. Not part of the operator process.
"""

from __future__ import annotations

import argparse
import collections.abc
import json
import shutil
import subprocess
import sys
import time
import typing

from walrus_operator import naming

__all__ = ["epoch_text", "main", "rollout_table", "status_table"]

Json = dict[str, typing.Any]
_GROUP = naming.API_GROUP


class PluginError(Exception):
    """A kubectl call failed; the message is kubectl's."""


# --------------------------------------------------------------------------- pure views


def _condition(body: Json, kind: str) -> Json:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return typing.cast(Json, condition)
    return {}


def _table(rows: collections.abc.Sequence[collections.abc.Sequence[object]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _members(network: Json) -> dict[str, int]:
    """Current committee member → shard count, from the network's status."""
    committee = (network.get("status") or {}).get("committee") or {}
    return {
        str(m.get("name")): int(m.get("shardCount") or 0) for m in committee.get("members") or []
    }


def shards_offline(network: Json, nodes: collections.abc.Sequence[Json]) -> int:
    """Shards of the current committee whose node is not Ready (or has no WalrusNode)."""
    ready = {n["metadata"]["name"] for n in nodes if _condition(n, "Ready").get("status") == "True"}
    return sum(count for name, count in _members(network).items() if name not in ready)


def status_table(network: Json, nodes: collections.abc.Sequence[Json]) -> str:
    """One network: a summary line, then a row per node."""
    spec, status = network.get("spec") or {}, network.get("status") or {}
    shard_count = int(spec.get("shardCount") or 0)
    tolerance = (shard_count - 1) // 3
    offline = shards_offline(network, nodes)
    verdict = "OK" if offline == 0 else ("DEGRADED" if offline <= tolerance else "UNAVAILABLE")
    degraded = _condition(network, "Degraded")
    lines = [
        f"network {network['metadata']['name']}: epoch {status.get('currentEpoch', 0)} "
        f"{status.get('phase') or 'Pending'}, {shard_count} shards (f = {tolerance}), "
        f"{offline} offline: {verdict}",
    ]
    if degraded.get("status") == "True":
        lines.append(f"  degraded: {degraded.get('reason')}: {degraded.get('message')}")
    sync = status.get("syncProgress") or {}
    if status.get("phase") == "EpochChange" and sync:
        lines.append(
            f"  shard sync: {sync.get('shardsSynced', 0)}/{sync.get('shardsTotal', 0)} shards"
        )
    rows: list[list[object]] = [["NODE", "PHASE", "READY", "EPOCH", "SHARDS", "SYNCING", "MESSAGE"]]
    for node in sorted(nodes, key=lambda n: str(n["metadata"]["name"])):
        node_status = node.get("status") or {}
        ready = _condition(node, "Ready")
        message = "" if ready.get("status") == "True" else str(ready.get("message") or "")
        rows.append(
            [
                node["metadata"]["name"],
                node_status.get("phase", "-"),
                ready.get("status", "Unknown"),
                node_status.get("epoch", "-"),
                node_status.get("shardsOwned", 0),
                node_status.get("shardsSyncing", 0),
                message[:60],
            ]
        )
    return "\n".join(lines) + "\n\n" + _table(rows)


def epoch_text(network: Json) -> str:
    status = network.get("status") or {}
    progressing = _condition(network, "Progressing")
    return "\n".join(
        [
            f"epoch:       {status.get('currentEpoch', 0)}",
            f"phase:       {status.get('phase') or 'Pending'}",
            f"started:     {status.get('epochStartTime', '-')}",
            f"next change: {status.get('nextEpochTime', '-')}",
            f"progressing: {progressing.get('reason', '-')}: {progressing.get('message', '')}",
        ]
    )


def _rolled_out(sts: Json | None) -> bool:
    if sts is None:
        return False
    sts_status = sts.get("status") or {}
    return bool(
        sts_status.get("observedGeneration") == sts.get("metadata", {}).get("generation")
        and sts_status.get("currentRevision") == sts_status.get("updateRevision")
        and int(sts_status.get("readyReplicas") or 0) >= 1
    )


def rollout_table(
    nodes: collections.abc.Sequence[Json], statefulsets: collections.abc.Mapping[str, Json]
) -> str:
    """Which nodes run their current pod spec (their StatefulSet's update revision, ready)."""
    rows: list[list[object]] = [["NODE", "UPDATED", "REVISION", "READY"]]
    done = 0
    for node in sorted(nodes, key=lambda n: str(n["metadata"]["name"])):
        name = node["metadata"]["name"]
        sts = statefulsets.get(name)
        updated = _rolled_out(sts)
        done += updated
        sts_status = (sts or {}).get("status") or {}
        rows.append(
            [
                name,
                "yes" if updated else "no",
                sts_status.get("updateRevision", "-"),
                sts_status.get("readyReplicas", 0),
            ]
        )
    return f"rollout: {done}/{len(nodes)} nodes updated\n\n" + _table(rows)


# --------------------------------------------------------------------------- kubectl


class Kubectl:
    def __init__(self, base: collections.abc.Sequence[str]) -> None:
        self.base = list(base)

    def run(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise PluginError(done.stderr.strip() or f"kubectl {' '.join(args)} failed")
        return done.stdout

    def json(self, *args: str) -> Json:
        return typing.cast(Json, json.loads(self.run(*args, "-o", "json")))

    def items(self, *args: str) -> list[Json]:
        return typing.cast(list[Json], self.json("get", *args).get("items") or [])


def _nodes_of(kubectl: Kubectl, network: str, namespace: list[str]) -> list[Json]:
    return [
        n
        for n in kubectl.items(f"walrusnodes.{_GROUP}", *namespace)
        if ((n.get("spec") or {}).get("networkRef") or {}).get("name") == network
    ]


def _status(kubectl: Kubectl, args: argparse.Namespace, namespace: list[str]) -> int:
    networks = (
        [kubectl.json("get", f"walrusnetworks.{_GROUP}", args.network, *namespace)]
        if args.network
        else kubectl.items(f"walrusnetworks.{_GROUP}", *namespace)
    )
    if not networks:
        print("no WalrusNetworks")
        return 0
    worst = 0
    for network in networks:
        nodes = _nodes_of(kubectl, network["metadata"]["name"], namespace)
        print(status_table(network, nodes) + "\n")
        shard_count = int((network.get("spec") or {}).get("shardCount") or 0)
        if shards_offline(network, nodes) > (shard_count - 1) // 3:
            worst = 1
    return worst


def _epoch(kubectl: Kubectl, args: argparse.Namespace, namespace: list[str]) -> int:
    if args.advance:
        kubectl.run(
            "annotate",
            f"walrusnetworks.{_GROUP}/{args.network}",
            *namespace,
            f"{naming.ANNOTATION_ADVANCE_EPOCH}={int(time.time())}",
            "--overwrite",
        )
        print(f"asked {args.network} for the next epoch")
    print(epoch_text(kubectl.json("get", f"walrusnetworks.{_GROUP}", args.network, *namespace)))
    return 0


def _rollout(kubectl: Kubectl, args: argparse.Namespace, namespace: list[str]) -> int:
    nodes = _nodes_of(kubectl, args.network, namespace)
    sets = {
        s["metadata"]["name"]: s
        for s in kubectl.items(
            "statefulsets", *namespace, "-l", f"{naming.LABEL_NETWORK}={args.network}"
        )
    }
    print(rollout_table(nodes, sets))
    return 0


def _drain(kubectl: Kubectl, args: argparse.Namespace, _: list[str]) -> int:
    kubectl.run("cordon", args.node)
    print(f"node/{args.node} cordoned")
    pods = [
        p
        for p in kubectl.items(
            "pods",
            "--all-namespaces",
            "--field-selector",
            f"spec.nodeName={args.node}",
            "-l",
            "app.kubernetes.io/name=walrus-node",
        )
        if not (p.get("metadata") or {}).get("deletionTimestamp")
    ]
    deadline = time.monotonic() + args.timeout
    waiting = list(pods)
    while waiting:
        refused = []
        for pod in waiting:
            meta = pod["metadata"]
            eviction = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
            }
            try:
                kubectl.run(
                    "create",
                    "--raw",
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/eviction",
                    "-f",
                    "-",
                    stdin=json.dumps(eviction),
                )
            except PluginError as refusal:
                if "NotFound" in str(refusal) or "not found" in str(refusal):
                    print(f"pod {meta['namespace']}/{meta['name']} is gone")
                    continue
                refused.append((pod, str(refusal)))
                continue
            print(f"pod {meta['namespace']}/{meta['name']} evicted")
        if not refused:
            break
        if time.monotonic() >= deadline:
            for pod, why in refused:
                meta = pod["metadata"]
                print(f"pod {meta['namespace']}/{meta['name']} not evicted: {why}", file=sys.stderr)
            print(
                f"drain of {args.node} incomplete: a disruption budget refuses "
                f"(the network would lose more shards than it tolerates); the node stays cordoned",
                file=sys.stderr,
            )
            return 1
        waiting = [pod for pod, _ in refused]
        time.sleep(min(args.interval, max(deadline - time.monotonic(), 0)))
    print(f"node/{args.node} drained of walrus pods")
    return 0


def _parser() -> argparse.ArgumentParser:
    # The kubectl-like options go before or after the command (`kubectl walrus status -n x`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-n", "--namespace", default=argparse.SUPPRESS, help="namespace (default: kubectl's)"
    )
    common.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="passed to kubectl")
    common.add_argument("--context", default=argparse.SUPPRESS, help="passed to kubectl")
    parser = argparse.ArgumentParser(
        prog="kubectl walrus", description=(__doc__ or "").split("\n")[0], parents=[common]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser(
        "status", parents=[common], help="networks and their nodes at a glance"
    )
    status.add_argument("network", nargs="?")
    epoch = commands.add_parser(
        "epoch", parents=[common], help="a network's epoch; --advance starts the next"
    )
    epoch.add_argument("network")
    epoch.add_argument("--advance", action="store_true")
    rollout = commands.add_parser(
        "rollout", parents=[common], help="which nodes run their current pod spec"
    )
    rollout.add_argument("network")
    drain = commands.add_parser(
        "drain", parents=[common], help="cordon a Kubernetes node, evict its walrus pods"
    )
    drain.add_argument("node")
    drain.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    drain.add_argument(
        "--interval", type=float, default=5.0, help="seconds between eviction attempts"
    )
    return parser


_COMMANDS = {"status": _status, "epoch": _epoch, "rollout": _rollout, "drain": _drain}


def main(argv: collections.abc.Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    executable = shutil.which("kubectl")
    if executable is None:
        print("kubectl walrus: kubectl not found on PATH", file=sys.stderr)
        return 2
    base = [executable]
    for option in ("kubeconfig", "context"):
        if getattr(args, option, None):
            base += [f"--{option}", getattr(args, option)]
    namespace = ["-n", args.namespace] if getattr(args, "namespace", None) else []
    try:
        return _COMMANDS[args.command](Kubectl(base), args, namespace)
    except PluginError as error:
        print(f"kubectl walrus: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
