"""The stand-in's main loop: wires the Node, the scheduler's part, the provisioner and
one `PodWorker` per pod to watches of the API server.

`run(settings)` is called by `e2e.kubelet.__main__`. It stops the processes an earlier,
crashed run left behind (see `e2e.controlplane.process`), registers the Node, and then
follows the pods bound to it until cancelled; on the way out it stops every pod's
processes (SIGTERM, then SIGKILL after at most `settings.shutdown_grace` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os

from e2e import kubeapi
from e2e.controlplane import process
from e2e.kubelet import (
    addresses,
    informer,
    node,
    pod,
    provisioner,
    sandbox,
    scheduler,
    volumes,
)
from e2e.kubelet.settings import Settings

log = logging.getLogger(__name__)

HOST_IP = "127.0.0.1"


def _namespace_mode(settings: Settings) -> bool:
    if settings.volume_mode == "namespace":
        return True
    if settings.volume_mode == "rewrite":
        return False
    return sandbox.namespaces_available()


def _base_env(settings: Settings, server: str) -> dict[str, str]:
    """What every container's environment starts with (the image's part, in a sense)."""
    port = server.rsplit(":", 1)[1]
    host_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return {
        "PATH": f"{settings.venv_bin}:{host_path}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        # In-cluster clients find the API server through these, as in a real cluster.
        "KUBERNETES_SERVICE_HOST": HOST_IP,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://{HOST_IP}:{port}",
    }


class Kubelet:
    def __init__(self, client: kubeapi.Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.workers: dict[str, tuple[pod.PodWorker, asyncio.Task[None]]] = {}
        self.provisioner = provisioner.Provisioner(client, settings)
        self.scheduler = scheduler.Scheduler(client, settings.node_name)
        self.configmaps = informer.Informer(client, kubeapi.collection("configmaps"))
        self.secrets = informer.Informer(client, kubeapi.collection("secrets"))
        self.pods = informer.Informer(
            client,
            kubeapi.collection("pods"),
            self._on_pod,
            fieldSelector=f"spec.nodeName={settings.node_name}",
        )
        self.env = pod.Environment(
            client=client,
            settings=settings,
            addresses=addresses.AddressBook(settings.state_dir / "addresses.json"),
            sources=volumes.Sources(
                configmaps=self.configmaps.get,
                secrets=self.secrets.get,
                claims=self.provisioner.claims.get,
                volumes=self.provisioner.volume,
                token=self._token,
            ),
            base_env=_base_env(settings, client.server),
            host_ip=HOST_IP,
            namespace_mode=_namespace_mode(settings),
            peers=self._peers,
        )

    def _peers(self) -> list[tuple[str, kubeapi.JSON]]:
        return [(w.pod_ip, w.pod) for w, _task in self.workers.values() if w.pod_ip]

    def _on_pod(self, key: str, obj: kubeapi.JSON | None) -> None:
        if obj is None:
            for uid, (worker, _task) in list(self.workers.items()):
                if worker.key == key:
                    worker.removed()
                    del self.workers[uid]
            return
        uid = obj["metadata"]["uid"]
        if uid in self.workers:
            self.workers[uid][0].update(obj)
            return
        # A pod re-created under the same name is a new pod: the old one is gone.
        for old_uid, (worker, _task) in list(self.workers.items()):
            if worker.key == key:
                worker.removed()
                del self.workers[old_uid]
        worker = pod.PodWorker(obj, self.env)
        worker.update(obj)
        self.workers[uid] = (worker, asyncio.create_task(self._run_worker(worker)))

    async def _run_worker(self, worker: pod.PodWorker) -> None:
        try:
            await worker.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s: worker failed", worker.key)

    async def _token(
        self, namespace: str, account: str, audience: str, seconds: int, owner: kubeapi.JSON
    ) -> tuple[str, float]:
        body: kubeapi.JSON = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": seconds,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                },
            },
        }
        if audience:
            body["spec"]["audiences"] = [audience]
        path = kubeapi.item("serviceaccounts", account, namespace) + "/token"
        try:
            answer = await self.client.create(path, body)
        except kubeapi.ApiError as error:
            raise volumes.VolumeNotReady(f"service account token: {error}") from error
        expiry = datetime.datetime.fromisoformat(answer["status"]["expirationTimestamp"])
        return str(answer["status"]["token"]), expiry.timestamp()

    async def run(self) -> None:
        version = await node.register(self.client, self.settings, HOST_IP)
        await self.provisioner.ensure_storage_class()
        log.info(
            "kubelet stand-in for node %s: volumes by %s, state in %s",
            self.settings.node_name,
            "mount namespace" if self.env.namespace_mode else "path rewrite",
            self.settings.state_dir,
        )
        caches = [self.configmaps, self.secrets]
        tasks = [asyncio.create_task(c.run()) for c in caches]
        tasks += [
            asyncio.create_task(node.heartbeat(self.client, self.settings, HOST_IP, version)),
            asyncio.create_task(self.provisioner.run()),
            asyncio.create_task(self.scheduler.run()),
        ]
        try:
            for cache in caches:
                await cache.synced.wait()
            await self.provisioner.claims.synced.wait()
            await self.pods.run()
        finally:
            await self.shutdown()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def shutdown(self) -> None:
        """Stop every pod's processes (the pods stay in the API)."""
        running = list(self.workers.values())
        self.workers.clear()
        for worker, _task in running:
            worker.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*(task for _worker, task in running), return_exceptions=True)


async def run(settings: Settings) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    leftovers = process.kill_recorded(settings.state_dir)
    if leftovers:
        log.info("stopped %d processes left by an earlier run", len(leftovers))
    async with kubeapi.Client(settings.kubeconfig) as client:
        await Kubelet(client, settings).run()
