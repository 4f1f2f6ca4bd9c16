"""One pod bound to the stand-in's Node, from first sight to removal.

`e2e.kubelet.kubelet` creates a `PodWorker` per pod it sees bound to its Node and feeds
it every new version of the pod (`update`) and its disappearance (`removed`). The
worker's `run()`:

1. fails the pod (phase Failed, with reason and message) if an image is not one the
   stand-in runs, or a volume type is unsupported;
2. gives the pod its loopback address (`e2e.kubelet.addresses`) and sets up its volumes,
   retrying while a claim is unbound or a ConfigMap is missing;
3. runs the init containers one after another, then all containers
   (`e2e.kubelet.container`), and keeps ConfigMap/Secret volumes up to date;
4. publishes the pod's status (`e2e.kubelet.status`) after every change;
5. on deletion (deletionTimestamp set) stops the containers within the pod's grace
   period, removes the pod's own volumes and deletes the pod object for good (grace 0).
   A pod that vanishes from the API is killed at once. `shutdown()` (the stand-in stops)
   stops the processes but leaves the pod and its volumes for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
from collections.abc import Callable

from e2e import kubeapi
from e2e.kubelet import addresses, container, envvars, hosts, status, volumes
from e2e.kubelet.settings import Settings

log = logging.getLogger(__name__)


class UnsupportedImage(Exception):
    pass


@dataclasses.dataclass
class Environment:
    """What every pod worker shares; made once by `e2e.kubelet.kubelet`."""

    client: kubeapi.Client
    settings: Settings
    addresses: addresses.AddressBook
    sources: volumes.Sources
    base_env: dict[str, str]
    host_ip: str
    namespace_mode: bool
    #: (pod IP, pod) of every pod on the Node that has an address, for /etc/hosts.
    peers: Callable[[], list[tuple[str, kubeapi.JSON]]]


def repository_name(image: str) -> str:
    """The last path component of an image's repository: "a.io/b/walrus-node:1@sha256:.."
    -> "walrus-node"."""
    reference = image.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def check_images(pod: kubeapi.JSON, allowed: tuple[str, ...]) -> None:
    specs = pod["spec"].get("initContainers", []) + pod["spec"]["containers"]
    for spec in specs:
        if repository_name(spec.get("image", "")) not in allowed:
            raise UnsupportedImage(
                f"container {spec['name']!r}: image {spec.get('image')!r} cannot run here: the "
                f"kubelet stand-in runs only images named {', '.join(allowed)} (as local "
                "processes)"
            )


class PodWorker:
    def __init__(self, pod: kubeapi.JSON, env: Environment) -> None:
        self.pod = pod
        self.env = env
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.namespace: str = meta.get("namespace", "default")
        self.name: str = meta["name"]
        self.key = f"{self.namespace}/{self.name}"
        self.dir = env.settings.state_dir / "pods" / self.uid
        self.logs = env.settings.state_dir / "logs" / f"{self.namespace}_{self.name}_{self.uid}"
        self.pod_ip = ""
        self.start_time = container.now()
        self.sandbox_ready = False
        self.init_done = not pod["spec"].get("initContainers")
        self.failure: tuple[str, str] | None = None
        self.volumes: volumes.PodVolumes | None = None
        self.init_containers: list[container.Container] = []
        self.containers: list[container.Container] = []
        self.runners: dict[str, asyncio.Task[int]] = {}
        self._updated = asyncio.Event()
        self._dirty = asyncio.Event()
        self._end = asyncio.Event()
        self._gone = False
        self._shutdown = False
        self._last_status: kubeapi.JSON | None = None
        self._frozen = False

    # -- events from the kubelet --------------------------------------------------------

    def update(self, pod: kubeapi.JSON) -> None:
        self.pod = pod
        if self.volumes is not None:
            self.volumes.pod = pod
        self._updated.set()
        if pod["metadata"].get("deletionTimestamp"):
            self._end.set()

    def removed(self) -> None:
        self._gone = True
        self._end.set()

    def shutdown(self) -> None:
        # The pod goes on after the stand-in restarts: its containers stopping now is
        # not news for the API (a terminal phase would keep it from running again).
        self._shutdown = True
        self._frozen = True
        self._end.set()

    def changed(self) -> None:
        self._dirty.set()

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self) -> None:
        publisher = asyncio.create_task(self._publish_loop())
        life = asyncio.create_task(self._live())
        life.add_done_callback(self._on_life_done)
        try:
            await self._end.wait()
            life.cancel()
            await asyncio.gather(life, return_exceptions=True)
            await self._terminate()
        finally:
            life.cancel()
            if not self._gone and not self._shutdown:
                await self._final_publish()
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
        if not self._gone and not self._shutdown:
            await self._delete()

    def _on_life_done(self, life: asyncio.Task[None]) -> None:
        error = None if life.cancelled() else life.exception()
        if error is not None:
            log.error("pod %s: the stand-in failed to run it", self.key, exc_info=error)
            self._fail("StandInError", f"the kubelet stand-in failed to run the pod: {error!r}")

    def _grace(self) -> float:
        if self._gone:
            return 0.0
        grace = float(self.pod["metadata"].get("deletionGracePeriodSeconds", 30))
        if self._shutdown:
            grace = min(grace, self.env.settings.shutdown_grace)
        return grace

    async def _live(self) -> None:
        pod_status = self.pod.get("status", {})
        previous = {c["name"]: c for c in pod_status.get("containerStatuses", [])}
        previous_init = {c["name"]: c for c in pod_status.get("initContainerStatuses", [])}
        if pod_status.get("phase") in ("Succeeded", "Failed"):
            self._frozen = True  # finished in an earlier run of the stand-in: keep its status
            return
        try:
            check_images(self.pod, self.env.settings.images)
            volumes.check(self.pod)
        except (UnsupportedImage, volumes.UnsupportedVolume) as error:
            self._fail(type(error).__name__, str(error))
            return

        spec = self.pod["spec"]
        self.pod_ip = (
            self.env.host_ip
            if spec.get("hostNetwork")
            else self.env.addresses.address(self.namespace, self.name)
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        hosts_file = self.dir / "hosts" if self.env.namespace_mode else None
        self.volumes = volumes.PodVolumes(
            self.pod, self.dir, self.env.sources, self.pod_ip, self.env.host_ip
        )
        context = container.PodContext(
            pod=lambda: self.pod,
            settings=self.env.settings,
            volumes=self.volumes,
            base_env={**self.env.base_env, "HOSTNAME": spec.get("hostname") or self.name},
            configmaps=self.env.sources.configmaps,
            secrets=self.env.sources.secrets,
            pod_ip=self.pod_ip,
            host_ip=self.env.host_ip,
            dir=self.dir,
            logs=self.logs,
            namespace=self.env.namespace_mode,
            changed=self.changed,
            hosts=hosts_file,
        )
        self.init_containers = [
            container.Container(context, c, True, previous_init.get(c["name"]))
            for c in spec.get("initContainers", [])
        ]
        self.containers = [
            container.Container(context, c, False, previous.get(c["name"]))
            for c in spec["containers"]
        ]
        self.changed()

        if not await self._prepare_volumes():
            return
        self._write_hosts()
        self.sandbox_ready = True
        self.changed()
        refresher = asyncio.create_task(self._refresh_loop())
        try:
            for init in self.init_containers:
                runner = asyncio.create_task(init.run())
                self.runners[init.name] = runner
                await asyncio.wait([runner])  # not cancelled with us: stop() ends it
                if runner.result() != 0:
                    return
            self.init_done = True
            self.changed()
            for c in self.containers:
                self.runners[c.name] = asyncio.create_task(c.run())
            await asyncio.wait(list(self.runners.values()))
        finally:
            refresher.cancel()

    async def _prepare_volumes(self) -> bool:
        """Set up the volumes, waiting while some cannot be yet; False if the pod failed."""
        assert self.volumes is not None
        while True:
            try:
                await self.volumes.prepare()
                return True
            except volumes.VolumeNotReady as error:
                message = str(error)
            except (volumes.UnsupportedVolume, envvars.EnvError) as error:
                self._fail("UnsupportedVolume", str(error))
                return False
            for c in self.init_containers + self.containers:
                c.state = {"waiting": {"reason": "ContainerCreating", "message": message}}
            self.changed()
            self._updated.clear()
            # Retry when the pod changes, or after a second (claims bind, ConfigMaps appear).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updated.wait(), 1.0)

    async def _refresh_loop(self) -> None:
        assert self.volumes is not None
        while True:
            await asyncio.sleep(self.env.settings.volume_refresh_period)
            try:
                self._write_hosts()
                await self.volumes.refresh()
            except Exception:
                log.exception("pod %s: refreshing volumes failed", self.key)

    def _write_hosts(self) -> None:
        if self.env.namespace_mode and not self.pod["spec"].get("hostNetwork"):
            content = hosts.render(self.pod_ip, self.pod, self.env.peers())
            hosts.write(self.dir / "hosts", content)

    def _fail(self, reason: str, message: str) -> None:
        log.info("pod %s failed: %s: %s", self.key, reason, message)
        self.failure = (reason, message)
        self.changed()

    async def _terminate(self) -> None:
        grace = self._grace()
        everyone = self.init_containers + self.containers
        if any(c.process is not None for c in everyone):
            log.info("pod %s: stopping containers (grace %g s)", self.key, grace)
        await asyncio.gather(
            *(c.stop(grace, self.runners.get(c.name)) for c in everyone if c.process is not None)
        )
        if not self._shutdown:
            # The pod's own volumes, launch specs (they hold its environment) and hosts
            # file; PV data and the logs stay.
            if self.volumes is not None:
                self.volumes.cleanup()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- API ----------------------------------------------------------------------------

    def _view(self) -> status.View:
        return status.View(
            pod=self.pod,
            pod_ip=self.pod_ip,
            host_ip=self.env.host_ip,
            start_time=self.start_time,
            sandbox_ready=self.sandbox_ready,
            init_done=self.init_done,
            init_containers=self.init_containers,
            containers=self.containers,
            failure=self.failure,
        )

    async def _publish(self) -> None:
        if self._frozen:
            return
        new = status.build(self._view(), container.now())
        if new == self._last_status:
            return
        path = kubeapi.item("pods", self.name, self.namespace) + "/status"
        await self.env.client.patch(path, {"metadata": {"uid": self.uid}, "status": new})
        self._last_status = new

    async def _publish_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._publish()
            except kubeapi.NotFound:
                return
            except (kubeapi.ApiError, OSError, TimeoutError) as error:
                log.info("pod %s: status not published (%s); retrying", self.key, error)
                await asyncio.sleep(1.0)
                self._dirty.set()

    async def _final_publish(self) -> None:
        with contextlib.suppress(kubeapi.ApiError, OSError, TimeoutError):
            await self._publish()

    async def _delete(self) -> None:
        """Remove the pod object now that its containers are gone (grace period 0)."""
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": self.uid},
        }
        try:
            await self.env.client.delete(kubeapi.item("pods", self.name, self.namespace), body)
            log.info("pod %s: deleted", self.key)
        except (kubeapi.NotFound, kubeapi.Conflict):
            pass
