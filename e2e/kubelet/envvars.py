"""A container's environment and command line, resolved as the kubelet resolves them.

Called by `e2e.kubelet.container` before each start. Handles `env` (value, and
valueFrom fieldRef / resourceFieldRef / configMapKeyRef / secretKeyRef), `envFrom`
(ConfigMaps and Secrets, with prefix) and `$(VAR)` references in env values, command and
args: `$(VAR)` expands to VAR's value when VAR is defined (earlier in `env` for env
values; anywhere for command and args), `$$` is a literal `$`, and references to
undefined variables stay as written.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping

from e2e import kubeapi

Lookup = Callable[[str, str], kubeapi.JSON | None]  # (namespace, name) -> object or None


class EnvError(Exception):
    """A variable cannot be resolved (a missing ConfigMap or key, an unknown field)."""


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Expand `$(VAR)` references in `text`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            close = text.find(")", i + 2)
            if close == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : close]
            out.append(variables.get(name, text[i : close + 1]))
            i = close + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field(pod: kubeapi.JSON, path: str, pod_ip: str, host_ip: str) -> str:
    """The value of a downward-API fieldRef such as "metadata.name" or "status.podIP"."""
    meta = pod["metadata"]
    spec = pod["spec"]
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    if path in ("metadata.labels", "metadata.annotations"):
        values = meta.get(path.split(".")[1], {})
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    match = _SUBSCRIPT.match(path)
    if match:
        return str(meta.get(match.group(1), {}).get(match.group(2), ""))
    raise EnvError(f"fieldRef.fieldPath {path!r} is not supported")


def _data(obj: kubeapi.JSON, secret: bool) -> dict[str, str]:
    if secret:
        return {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()}
    return dict(obj.get("data", {}))


def resolve(
    pod: kubeapi.JSON,
    container: kubeapi.JSON,
    base: Mapping[str, str],
    configmaps: Lookup,
    secrets: Lookup,
    pod_ip: str,
    host_ip: str,
) -> tuple[dict[str, str], list[str]]:
    """The container's environment and its argv (command + args, expanded).

    `base` holds what the runtime provides (PATH, HOSTNAME, ...); the container's own
    variables override it."""
    namespace = pod["metadata"].get("namespace", "default")
    env = dict(base)
    name = container["name"]

    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        for kind, lookup, secret in (
            ("configMapRef", configmaps, False),
            ("secretRef", secrets, True),
        ):
            ref = source.get(kind)
            if ref is None:
                continue
            obj = lookup(namespace, ref["name"])
            if obj is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f"container {name!r}: envFrom.{kind} {ref['name']!r} not found")
            for key, value in _data(obj, secret).items():
                env[prefix + key] = value

    for var in container.get("env", []):
        env[var["name"]] = _value(var, pod, container, env, configmaps, secrets, pod_ip, host_ip)

    argv = [expand(part, env) for part in container.get("command", [])]
    argv += [expand(part, env) for part in container.get("args", [])]
    if not argv:
        raise EnvError(
            f"container {name!r}: no command; the stand-in has no image to take a default from"
        )
    return env, argv


def _value(
    var: kubeapi.JSON,
    pod: kubeapi.JSON,
    container: kubeapi.JSON,
    env: Mapping[str, str],
    configmaps: Lookup,
    secrets: Lookup,
    pod_ip: str,
    host_ip: str,
) -> str:
    where = f"container {container['name']!r}: env {var['name']!r}"
    if "valueFrom" not in var:
        return expand(var.get("value", ""), env)
    source = var["valueFrom"]
    if "fieldRef" in source:
        return field(pod, source["fieldRef"]["fieldPath"], pod_ip, host_ip)
    if "resourceFieldRef" in source:
        return _resource(source["resourceFieldRef"], container)
    namespace = pod["metadata"].get("namespace", "default")
    for kind, lookup, secret in (
        ("configMapKeyRef", configmaps, False),
        ("secretKeyRef", secrets, True),
    ):
        ref = source.get(kind)
        if ref is None:
            continue
        obj = lookup(namespace, ref["name"])
        data = {} if obj is None else _data(obj, secret)
        if ref["key"] in data:
            return data[ref["key"]]
        if ref.get("optional"):
            return ""
        missing = f"{ref['name']!r}" if obj is None else f"key {ref['key']!r} in {ref['name']!r}"
        raise EnvError(f"{where}: {kind} {missing} not found")
    raise EnvError(f"{where}: unsupported valueFrom {sorted(source)}")


def resource_value(ref: kubeapi.JSON, pod: kubeapi.JSON) -> str:
    """A downward-API volume's resourceFieldRef, naming its container."""
    containers = pod["spec"]["containers"]
    wanted = ref.get("containerName") or containers[0]["name"]
    for container in containers:
        if container["name"] == wanted:
            return _resource(ref, container)
    raise EnvError(f"resourceFieldRef.containerName {wanted!r} names no container")


def _resource(ref: kubeapi.JSON, container: kubeapi.JSON) -> str:
    """limits.cpu, requests.memory, ...: the container's value, else a node-sized default."""
    kind, _, resource = ref["resource"].partition(".")
    value = container.get("resources", {}).get(kind, {}).get(resource)
    if value is None:
        return {"cpu": "2", "memory": str(24 * 2**30)}.get(resource, "0")
    return str(value)
