"""A minimal volume provisioner: directory-backed PersistentVolumes on the stand-in's host.

`Provisioner.run()` (started by `e2e.kubelet.kubelet`):

- creates its StorageClass (default `walrus-e2e`, marked as the cluster's default,
  volume expansion allowed, binding Immediate) unless it exists;
- for every PVC of a StorageClass whose provisioner is `settings.PROVISIONER` that has
  no volume, creates a PV named `pvc-<claim uid>` with a hostPath directory under
  `<state-dir>/volumes/` and a claimRef to the claim; kube-controller-manager's PV
  controller then binds the two (the PVC becomes Bound);
- when a bound claim asks for more storage than it has and its StorageClass allows
  expansion, raises the PV's capacity and the claim's `status.capacity` (what an
  external resizer plus the kubelet do for a real volume);
- deletes released PVs with reclaim policy Delete, and their directories.

Sizes are bookkeeping only: a directory has no quota.
"""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import logging
import re
import shutil
from pathlib import Path

from e2e import kubeapi
from e2e.kubelet import informer
from e2e.kubelet.settings import PROVISIONER, Settings

log = logging.getLogger(__name__)

_STORAGE_GROUP = "storage.k8s.io/v1"
_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": 0,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[a-zA-Z]*)$")


class QuantityError(ValueError):
    pass


def quantity(text: str) -> decimal.Decimal:
    """A Kubernetes resource quantity ("10Gi", "500M", "1.5", "1e3") as a number."""
    match = _QUANTITY.match(str(text).strip())
    if not match or (match.group(2) not in _SUFFIXES and match.group(2)[:1] not in "eE"):
        raise QuantityError(f"not a resource quantity: {text!r}")
    number = decimal.Decimal(match.group(1))
    suffix = match.group(2)
    if suffix[:1] in ("e", "E"):
        return number * decimal.Decimal(10) ** int(suffix[1:])
    if suffix == "m":
        return number / 1000
    return number * _SUFFIXES[suffix]


class Provisioner:
    def __init__(self, client: kubeapi.Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.root = settings.state_dir / "volumes"
        self.wakeup = asyncio.Event()

        def poke(_key: str, _obj: kubeapi.JSON | None) -> None:
            self.wakeup.set()

        self.classes = informer.Informer(
            client, kubeapi.collection("storageclasses", group=_STORAGE_GROUP), poke
        )
        self.claims = informer.Informer(client, kubeapi.collection("persistentvolumeclaims"), poke)
        self.volumes = informer.Informer(client, kubeapi.collection("persistentvolumes"), poke)

    def volume(self, name: str) -> kubeapi.JSON | None:
        return self.volumes.get("", name)

    async def ensure_storage_class(self) -> None:
        body = {
            "apiVersion": _STORAGE_GROUP,
            "kind": "StorageClass",
            "metadata": {
                "name": self.settings.storage_class,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": True,
        }
        with contextlib.suppress(kubeapi.Conflict):
            await self.client.create(
                kubeapi.collection("storageclasses", group=_STORAGE_GROUP), body
            )

    async def run(self) -> None:
        watches = [asyncio.create_task(i.run()) for i in (self.classes, self.claims, self.volumes)]
        try:
            for i in (self.classes, self.claims, self.volumes):
                await i.synced.wait()
            while True:
                await self.wakeup.wait()
                self.wakeup.clear()
                try:
                    await self.reconcile()
                except (kubeapi.ApiError, OSError, TimeoutError) as error:
                    log.warning("provisioning failed: %s; retrying", error)
                    asyncio.get_running_loop().call_later(1.0, self.wakeup.set)
        finally:
            for watch in watches:
                watch.cancel()
            await asyncio.gather(*watches, return_exceptions=True)

    def _our_class(self, name: str | None) -> kubeapi.JSON | None:
        if not name:
            return None
        storage_class = self.classes.get("", name)
        if storage_class is None or storage_class.get("provisioner") != PROVISIONER:
            return None
        return storage_class

    async def reconcile(self) -> None:
        for claim in list(self.claims.items.values()):
            storage_class = self._our_class(claim["spec"].get("storageClassName"))
            if storage_class is None or claim["metadata"].get("deletionTimestamp"):
                continue
            if not claim["spec"].get("volumeName"):
                await self._provision(claim, storage_class)
            elif claim.get("status", {}).get("phase") == "Bound":
                await self._expand(claim, storage_class)
        for volume in list(self.volumes.items.values()):
            await self._reclaim(volume)

    async def _provision(self, claim: kubeapi.JSON, storage_class: kubeapi.JSON) -> None:
        meta = claim["metadata"]
        name = f"pvc-{meta['uid']}"
        if self.volume(name) is not None:
            return  # created; the PV controller is binding it
        if claim["spec"].get("volumeMode", "Filesystem") != "Filesystem":
            log.warning("claim %s: volumeMode Block is not supported", informer.key(claim))
            return
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        size = claim["spec"]["resources"]["requests"]["storage"]
        body = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": name,
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
            },
            "spec": {
                "capacity": {"storage": size},
                "accessModes": claim["spec"].get("accessModes", ["ReadWriteOnce"]),
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
                "storageClassName": storage_class["metadata"]["name"],
                "volumeMode": "Filesystem",
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
                "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            },
        }
        with contextlib.suppress(kubeapi.Conflict):
            await self.client.create(kubeapi.collection("persistentvolumes"), body)
            log.info("claim %s: provisioned %s (%s)", informer.key(claim), name, size)

    async def _expand(self, claim: kubeapi.JSON, storage_class: kubeapi.JSON) -> None:
        wanted_text = claim["spec"]["resources"]["requests"]["storage"]
        have_text = claim.get("status", {}).get("capacity", {}).get("storage", "0")
        if quantity(wanted_text) <= quantity(have_text):
            return
        if not storage_class.get("allowVolumeExpansion"):
            return  # the API server refuses such resizes anyway
        volume_name = claim["spec"]["volumeName"]
        volume = self.volume(volume_name)
        if volume is None:
            return
        if quantity(volume["spec"]["capacity"]["storage"]) < quantity(wanted_text):
            await self.client.patch(
                kubeapi.item("persistentvolumes", volume_name),
                {"spec": {"capacity": {"storage": wanted_text}}},
            )
        meta = claim["metadata"]
        await self.client.patch(
            kubeapi.item("persistentvolumeclaims", meta["name"], meta["namespace"]) + "/status",
            {
                "status": {
                    "capacity": {"storage": wanted_text},
                    "allocatedResources": {"storage": wanted_text},
                    "allocatedResourceStatuses": None,
                    "conditions": None,
                }
            },
        )
        log.info("claim %s: expanded from %s to %s", informer.key(claim), have_text, wanted_text)

    async def _reclaim(self, volume: kubeapi.JSON) -> None:
        annotations = volume["metadata"].get("annotations", {})
        if annotations.get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
            return
        if volume.get("status", {}).get("phase") not in ("Released", "Failed"):
            return
        if volume["spec"].get("persistentVolumeReclaimPolicy") != "Delete":
            return
        name = volume["metadata"]["name"]
        path = Path(volume["spec"].get("hostPath", {}).get("path", ""))
        if path.parent == self.root:
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(kubeapi.NotFound):
            await self.client.delete(kubeapi.item("persistentvolumes", name))
            log.info("volume %s: released and deleted", name)
