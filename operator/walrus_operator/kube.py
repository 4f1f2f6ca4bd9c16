"""The operator's only door to the Kubernetes API: plain dicts in, plain dicts out.

`Kube` wraps a lightkube `AsyncClient`. Children are written with server-side apply under
one field manager (`walrus-operator`, forced: the operator owns what it builds, and a hand
edit of an owned field is drift to undo). The key Secret is created once and never
applied over. Reads return plain dicts (or None for "not found"). Every lightkube/httpx
error is wrapped into `errors.KubeError` (chained), so nothing above this module knows the
client library.

Called by the reconcilers (`nodes`, `pools`, `networks`); built in `handlers` at startup.
"""

from __future__ import annotations

import collections.abc
import enum
import functools
import typing

import httpx2
import lightkube
import lightkube.generic_resource
from lightkube import codecs
from lightkube.core import exceptions as lightkube_errors
from lightkube.models import meta_v1
from lightkube.resources import (
    apps_v1,
    autoscaling_v2,
    coordination_v1,
    core_v1,
    networking_v1,
    policy_v1,
    storage_v1,
)
from lightkube.types import CascadeType, PatchType

from walrus_operator import errors, naming

__all__ = ["Kind", "Kube"]

Body = dict[str, typing.Any]

_WalrusNetwork = lightkube.generic_resource.create_namespaced_resource(
    naming.API_GROUP, naming.API_VERSION, "WalrusNetwork", "walrusnetworks"
)
_WalrusNode = lightkube.generic_resource.create_namespaced_resource(
    naming.API_GROUP, naming.API_VERSION, "WalrusNode", "walrusnodes"
)
_WalrusNodePool = lightkube.generic_resource.create_namespaced_resource(
    naming.API_GROUP, naming.API_VERSION, "WalrusNodePool", "walrusnodepools"
)
_WalrusGateway = lightkube.generic_resource.create_namespaced_resource(
    naming.API_GROUP, naming.API_VERSION, "WalrusGateway", "walrusgateways"
)


class Kind(enum.Enum):
    """The kinds the operator touches (and so the RBAC rules it needs, see manifests)."""

    CONFIG_MAP = core_v1.ConfigMap
    SERVICE = core_v1.Service
    SECRET = core_v1.Secret
    POD = core_v1.Pod
    PVC = core_v1.PersistentVolumeClaim
    STATEFUL_SET = apps_v1.StatefulSet
    PDB = policy_v1.PodDisruptionBudget
    NETWORK_POLICY = networking_v1.NetworkPolicy
    STORAGE_CLASS = storage_v1.StorageClass
    LEASE = coordination_v1.Lease
    WALRUS_NETWORK = _WalrusNetwork
    WALRUS_NODE = _WalrusNode
    WALRUS_NODE_POOL = _WalrusNodePool
    DEPLOYMENT = apps_v1.Deployment
    INGRESS = networking_v1.Ingress
    HPA = autoscaling_v2.HorizontalPodAutoscaler
    WALRUS_GATEWAY = _WalrusGateway

    @classmethod
    def of(cls, body: collections.abc.Mapping[str, typing.Any]) -> Kind:
        for kind in cls:
            if kind.value.__name__ == body.get("kind"):
                return kind
        raise errors.KubeError(f"unsupported kind {body.get('kind')!r}")


def _to_dict(obj: typing.Any) -> Body:
    if isinstance(obj, dict):
        return obj
    converted: Body = obj.to_dict()
    return converted


_F = typing.TypeVar(
    "_F", bound=collections.abc.Callable[..., collections.abc.Awaitable[typing.Any]]
)


def _status_code(exc: httpx2.HTTPStatusError) -> int:
    if isinstance(exc, lightkube_errors.ApiError) and exc.status.code:
        return int(exc.status.code)
    return int(exc.response.status_code)


def _is_status(exc: Exception, code: int) -> bool:
    """Whether `exc` is the API's HTTP `code` (lightkube raises ApiError for JSON Status
    bodies, the bare httpx error otherwise)."""
    return isinstance(exc, httpx2.HTTPStatusError) and _status_code(exc) == code


def _wrapped(method: _F) -> _F:
    """Translate the client's errors into the operator's, keeping the original as cause."""

    @functools.wraps(method)
    async def wrapper(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        try:
            return await method(*args, **kwargs)
        except httpx2.HTTPStatusError as exc:
            code = _status_code(exc)
            detail = exc.status.message if isinstance(exc, lightkube_errors.ApiError) else exc
            message = f"{method.__name__}: {detail}"
            if code == 404:
                raise errors.KubeNotFound(message, status=code) from exc
            if code == 409:
                raise errors.KubeConflict(message, status=code) from exc
            if code == 429 or code >= 500:
                raise errors.KubeUnavailable(message, status=code) from exc
            raise errors.KubeError(message, status=code) from exc
        except httpx2.HTTPError as exc:
            raise errors.KubeUnavailable(f"{method.__name__}: {exc}") from exc

    return typing.cast(_F, wrapper)


class Kube:
    """Dict-based access to the API with the operator's field manager."""

    def __init__(self, client: lightkube.AsyncClient, field_manager: str = naming.MANAGED_BY):
        self._client = client
        self._field_manager = field_manager

    @classmethod
    def from_environment(cls) -> Kube:
        """In-cluster service account, else $KUBECONFIG / ~/.kube/config."""
        return cls(lightkube.AsyncClient(field_manager=naming.MANAGED_BY))

    @classmethod
    def from_server(cls, url: str) -> Kube:
        """An unauthenticated client for a local, plain-HTTP API (tests, local tools)."""
        config = lightkube.KubeConfig.from_dict(
            {
                "clusters": [{"name": "local", "cluster": {"server": url}}],
                "users": [{"name": "anonymous", "user": {}}],
                "contexts": [
                    {"name": "local", "context": {"cluster": "local", "user": "anonymous"}}
                ],
                "current-context": "local",
            }
        )
        return cls(lightkube.AsyncClient(config=config, field_manager=naming.MANAGED_BY))

    async def close(self) -> None:
        await self._client.close()

    @_wrapped
    async def apply(self, body: Body) -> Body:
        """Server-side apply `body` (idempotent; undoes drift in the fields it sets)."""
        meta = body["metadata"]
        result = await self._client.patch(
            Kind.of(body).value,
            meta["name"],
            body,
            namespace=meta.get("namespace"),
            patch_type=PatchType.APPLY,
            field_manager=self._field_manager,
            force=True,
        )
        return _to_dict(result)

    @_wrapped
    async def create(self, body: Body) -> Body | None:
        """Create `body`; None (and nothing changed) if it already exists."""
        try:
            resource: typing.Any = codecs.from_dict(body)
            result = await self._client.create(resource, field_manager=self._field_manager)
        except httpx2.HTTPStatusError as exc:
            if _is_status(exc, 409):
                return None
            raise
        return _to_dict(result)

    @_wrapped
    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Body | None:
        try:
            return _to_dict(await self._client.get(kind.value, name, namespace=namespace))
        except httpx2.HTTPStatusError as exc:
            if _is_status(exc, 404):
                return None
            raise

    @_wrapped
    async def list_by_labels(
        self, kind: Kind, namespace: str, labels: collections.abc.Mapping[str, str]
    ) -> list[Body]:
        found = self._client.list(kind.value, namespace=namespace, labels=dict(labels))
        return [_to_dict(obj) async for obj in found]

    @_wrapped
    async def merge_patch(
        self, kind: Kind, name: str, namespace: str, patch: Body, *, status: bool = False
    ) -> Body:
        """JSON merge patch (`status=True`: of the status subresource)."""
        resource = kind.value.Status if status else kind.value
        result = await self._client.patch(
            resource, name, patch, namespace=namespace, patch_type=PatchType.MERGE
        )
        return _to_dict(result)

    @_wrapped
    async def evict(self, pod: str, namespace: str) -> None:
        """Evict `pod` through the eviction API, which honours PodDisruptionBudgets: a
        budget that allows no disruption answers 429 (`errors.KubeUnavailable`)."""
        eviction = core_v1.Pod.Eviction(metadata=meta_v1.ObjectMeta(name=pod, namespace=namespace))
        await self._client.create(eviction, pod, namespace=namespace)

    @_wrapped
    async def delete(self, kind: Kind, name: str, namespace: str) -> None:
        try:
            await self._client.delete(
                kind.value, name, namespace=namespace, cascade=CascadeType.FOREGROUND
            )
        except httpx2.HTTPStatusError as exc:
            if not _is_status(exc, 404):
                raise
