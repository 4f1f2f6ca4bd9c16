"""`MemoryKube`: the operator's `kube.Kube` interface over an in-memory object store.

For reconciler tests at the unit tier: it keeps objects as dicts keyed by (kind,
namespace, name), applies as create-or-replace of the fields given (what server-side apply
amounts to for a single field manager), evaluates label selectors, honours finalizers on
delete, and records every write so tests can assert on what the operator did. The real
API server semantics (SSA field ownership, defaulting, CEL) are the e2e tier's job.
"""

from __future__ import annotations

import copy
import itertools
import typing

from walrus_operator import errors, kube

Body = dict[str, typing.Any]
Key = tuple[kube.Kind, str | None, str]


def _merge(target: Body, patch: Body) -> Body:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class MemoryKube(kube.Kube):
    def __init__(self) -> None:  # no client: nothing leaves the process
        self.objects: dict[Key, Body] = {}
        self.writes: list[tuple[str, kube.Kind, str]] = []
        self._uids = itertools.count(1)
        self._versions = itertools.count(1)

    def put(self, body: Body) -> Body:
        """Store `body` as if it had been created by someone else."""
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._uids)}")
        meta.setdefault("generation", 1)
        meta.setdefault("resourceVersion", str(next(self._versions)))
        self.objects[self._key(body)] = body
        return body

    @staticmethod
    def _key(body: Body) -> Key:
        kind = kube.Kind.of(body)
        return kind, body["metadata"].get("namespace"), body["metadata"]["name"]

    def find(self, kind: kube.Kind, name: str, namespace: str | None = None) -> Body | None:
        return self.objects.get((kind, namespace, name))

    async def close(self) -> None:
        return None

    async def apply(self, body: Body) -> Body:
        key = self._key(body)
        self.writes.append(("apply", key[0], key[2]))
        existing = self.objects.get(key)
        if existing is None:
            return copy.deepcopy(self.put(body))
        for field in body:
            if field not in {"metadata", "status"}:
                existing[field] = copy.deepcopy(body[field])
        _merge(existing["metadata"], copy.deepcopy(body["metadata"]))
        existing["metadata"]["generation"] = existing["metadata"].get("generation", 1) + 1
        return copy.deepcopy(existing)

    async def create(self, body: Body) -> Body | None:
        key = self._key(body)
        if key in self.objects:
            return None
        self.writes.append(("create", key[0], key[2]))
        return copy.deepcopy(self.put(body))

    async def get(self, kind: kube.Kind, name: str, namespace: str | None = None) -> Body | None:
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found)

    async def list_by_labels(
        self, kind: kube.Kind, namespace: str, labels: typing.Mapping[str, str]
    ) -> list[Body]:
        return [
            copy.deepcopy(body)
            for (k, ns, _), body in sorted(self.objects.items(), key=lambda item: item[0][2])
            if k == kind
            and ns == namespace
            and all(body["metadata"].get("labels", {}).get(lk) == lv for lk, lv in labels.items())
        ]

    async def merge_patch(
        self, kind: kube.Kind, name: str, namespace: str, patch: Body, *, status: bool = False
    ) -> Body:
        existing = self.objects.get((kind, namespace, name))
        if existing is None:
            raise errors.KubeNotFound(f"{kind.name} {namespace}/{name}", status=404)
        # A resourceVersion in the patch is a precondition, as on the API server.
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        current = existing["metadata"].get("resourceVersion")
        if wanted is not None and wanted != current:
            raise errors.KubeConflict(f"{kind.name} {name}: resourceVersion {wanted} is stale")
        self.writes.append(("patch-status" if status else "patch", kind, name))
        _merge(existing, patch)
        existing["metadata"]["resourceVersion"] = str(next(self._versions))
        return copy.deepcopy(existing)

    refuse_evictions: bool = False
    """Answer evictions as a disruption budget that allows none does (429)."""

    async def evict(self, pod: str, namespace: str) -> None:
        """The eviction API: marks the pod terminating (or 429 if `refuse_evictions`)."""
        if self.refuse_evictions:
            raise errors.KubeUnavailable("evict: would violate the disruption budget", status=429)
        key = (kube.Kind.POD, namespace, pod)
        if key not in self.objects:
            raise errors.KubeNotFound(f"evict: pod {pod} not found", status=404)
        self.writes.append(("evict", kube.Kind.POD, pod))
        self.objects[key]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"

    async def delete(self, kind: kube.Kind, name: str, namespace: str) -> None:
        key = (kind, namespace, name)
        if key not in self.objects:
            return
        self.writes.append(("delete", kind, name))
        if self.objects[key]["metadata"].get("finalizers"):
            self.objects[key]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        else:
            del self.objects[key]
