"""The scheduler's part: bind every pending pod to the stand-in's Node.

There is no kube-scheduler in the local control plane. `Scheduler.run()` binds each pod
that has no node yet through the pods/binding subresource, as kube-scheduler does. It
does not filter or score (there is one Node): node selectors, affinities, taints and
resource requests are not checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from e2e import kubeapi
from e2e.kubelet import informer

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, client: kubeapi.Client, node_name: str) -> None:
        self.client = client
        self.node_name = node_name
        self.wakeup = asyncio.Event()
        self.pending = informer.Informer(
            client,
            kubeapi.collection("pods"),
            lambda _key, _obj: self.wakeup.set(),
            fieldSelector="spec.nodeName=",
        )

    async def bind(self, pod: kubeapi.JSON) -> None:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        path = kubeapi.item("pods", meta["name"], meta["namespace"]) + "/binding"
        await self.client.create(path, body)
        log.info("pod %s/%s bound to %s", meta["namespace"], meta["name"], self.node_name)

    async def run(self) -> None:
        watch = asyncio.create_task(self.pending.run())
        try:
            while True:
                await self.wakeup.wait()
                self.wakeup.clear()
                for pod in list(self.pending.items.values()):
                    if pod["metadata"].get("deletionTimestamp"):
                        continue
                    try:
                        await self.bind(pod)
                    except kubeapi.Conflict:
                        pass  # bound meanwhile
                    except (kubeapi.ApiError, OSError, TimeoutError) as error:
                        log.warning("binding %s failed: %s", informer.key(pod), error)
                        self._retry_soon()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    def _retry_soon(self) -> None:
        asyncio.get_running_loop().call_later(1.0, self.wakeup.set)
