"""The real operator (Kopf + lightkube) against kmock's Kubernetes emulator, for tests.

`emulated_api()` serves kmock's in-memory API over HTTP with the operator's CRDs and the
built-in kinds registered; `ApplyingEmulator` adds what the operator relies on and kmock
lacks (server-side apply creating a missing object, `generateName`). `running_operator`
runs the operator's real handler registry against it in a background thread
(`kopf.testing.KopfRunner`). kmock is "a database over HTTP": no schema, CEL, SSA field
ownership, garbage collection or controllers; those belong to the control-plane tier.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import gzip
import importlib.resources
import time
import typing

import kmock
import kopf
import kopf.testing

from walrus_operator import addresses, handlers, kube, naming, settings

NODES = f"{naming.GROUP_VERSION}/walrusnodes"
NETWORKS = f"{naming.GROUP_VERSION}/walrusnetworks"
_CRDS = {
    "walrusnetworks": "WalrusNetwork",
    "walrusnodes": "WalrusNode",
    "walrusnodepools": "WalrusNodePool",
}
Body = dict[str, typing.Any]


class ApplyingEmulator(kmock.KubernetesEmulator):
    """kmock plus two API-server behaviours the operator relies on: server-side apply of a
    missing object creates it, and `generateName` (Kopf's Events) gives each a new name."""

    _generated = 0

    def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
        super().__init__(*args, **kwargs)
        #: PATCH requests per (plural, name): how often the operator wrote an object.
        self.patches: collections.Counter[tuple[str, str]] = collections.Counter()

    async def _handle(self, request: kmock.Request) -> typing.Any:
        if request.method == kmock.method.PATCH and request.resource and request.name:
            self.patches[request.resource.plural, request.name] += 1
        data = request.data if isinstance(request.data, dict) else None
        meta = (data or {}).get("metadata") or {}
        generate = meta.get("generateName")
        if request.method == kmock.method.POST and generate and not meta.get("name"):
            ApplyingEmulator._generated += 1
            meta["name"] = f"{generate}{ApplyingEmulator._generated}"
        content_type = {k.lower(): v for k, v in request.headers.items()}.get("content-type", "")
        if (
            request.resource is not None
            and request.method == kmock.method.PATCH
            and "apply-patch" in content_type
            and request.name is not None
            and (request.resource, request.namespace, request.name) not in self.objects
        ):
            self.objects[request.resource, request.namespace, request.name] = request.data
            await self._buses[request.resource].put(
                {
                    "type": "ADDED",
                    "object": self.objects[request.resource, request.namespace, request.name].raw,
                }
            )
        return await super()._handle(request)

    def url_text(self) -> str:
        return str(self.url).rstrip("/")

    def get(self, resource: str, namespace: str, name: str) -> Body | None:
        key = (kmock.resource(resource), namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return typing.cast(Body, self.objects[key].raw)

    def events(self, reason: str) -> list[Body]:
        return [
            obj.raw
            for (resource, _, _), obj in self.objects.items()
            if resource.plural == "events" and not obj.deleted and obj.raw.get("reason") == reason
        ]


@contextlib.asynccontextmanager
async def emulated_api() -> collections.abc.AsyncIterator[ApplyingEmulator]:
    async with ApplyingEmulator() as emulator, kmock.Server(emulator):
        # Built-in resources (discovery data shipped with kmock); `load_bundled` itself
        # uses a deprecated importlib call, which this suite turns into an error.
        bundled = importlib.resources.files("kmock._internal") / "resources.json.gz"
        emulator.resources.load_data(gzip.decompress(bundled.read_bytes()))
        for plural, kind in _CRDS.items():
            emulator.resources[f"{naming.GROUP_VERSION}/{plural}"] = kmock.ResourceInfo(
                kind=kind,
                namespaced=True,
                verbs={"list", "watch", "get", "create", "patch", "delete"},
                subresources={"status"},
            )
        yield emulator


@contextlib.asynccontextmanager
async def running_operator(
    url: str,
    *,
    make_addresses: collections.abc.Callable[[kube.Kube], addresses.Addresses] | None = None,
    **overrides: typing.Any,
) -> collections.abc.AsyncIterator[kopf.testing.KopfRunner]:
    """The real handler registry, logged in to `url`, in a background thread.

    Stopped from a worker thread (`asyncio.to_thread`): stopping joins the operator's
    thread, and joined from here it would block this event loop, which serves the emulated
    API that the stopping operator may still be calling. Those calls then hung until Kopf
    gave up on its handlers ("did not exit in time"), and under load past the runner's own
    deadline, which failed a test that had passed."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: object) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, insecure=True)

    config = {
        "resync_seconds": 3600,
        "deletion_retry_seconds": 1,
        "metrics_port": 0,
        "epoch_poll_seconds": 0.5,
        "node_timeout_seconds": 0.5,
        **overrides,
    }
    handlers.register(
        registry,
        settings.OperatorSettings(**config),
        make_kube=lambda: kube.Kube.from_server(url),
        make_addresses=make_addresses,
        serve_metrics=False,
        login=False,
    )
    runner = kopf.testing.KopfRunner(
        ["run", "--standalone", "--all-namespaces"], registry=registry, timeout=60
    )
    runner.__enter__()
    try:
        yield runner
    except BaseException as error:
        await asyncio.to_thread(runner.__exit__, type(error), error, error.__traceback__)
        raise
    await asyncio.to_thread(runner.__exit__, None, None, None)
    assert runner.exception is None, runner.output


async def wait_for(
    predicate: collections.abc.Callable[[], bool], what: str, deadline: float = 60.0
) -> None:
    until = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > until:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
