"""A pod's volumes as host paths, and which of them each container mounts where.

Called by `e2e.kubelet.pod` (prepare, refresh, cleanup) and `e2e.kubelet.container`
(`mounts()`). Supported volume types:

- persistentVolumeClaim: the bound PV's directory (`hostPath.path` or `local.path`), so
  its data outlives the pod (see `e2e.kubelet.provisioner`);
- configMap, secret, downwardAPI, projected (configMap, secret, downwardAPI and
  serviceAccountToken sources): files written by `e2e.kubelet.atomicdir`, re-rendered by
  `refresh()` when their sources change;
- emptyDir: a directory that lives as long as the pod;
- hostPath: the path itself.

Others make the pod fail with reason UnsupportedVolume.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from e2e import kubeapi
from e2e.kubelet import atomicdir, envvars, sandbox

log = logging.getLogger(__name__)

Lookup = Callable[[str, str], kubeapi.JSON | None]
#: (namespace, service account, audience, expirationSeconds, pod) -> (token, expiry time)
TokenSource = Callable[[str, str, str, int, kubeapi.JSON], Awaitable[tuple[str, float]]]

RENDERED = ("configMap", "secret", "downwardAPI", "projected")
SUPPORTED = ("persistentVolumeClaim", "emptyDir", "hostPath", *RENDERED)
DEFAULT_MODE = 0o644


class VolumeNotReady(Exception):
    """A volume cannot be set up yet (unbound claim, missing ConfigMap); retried."""


class UnsupportedVolume(Exception):
    """The pod uses a volume type or feature the stand-in does not provide."""


@dataclasses.dataclass(frozen=True)
class Sources:
    """Where volume contents come from: the stand-in's caches and the TokenRequest API."""

    configmaps: Lookup
    secrets: Lookup
    claims: Lookup
    volumes: Callable[[str], kubeapi.JSON | None]
    token: TokenSource


def check(pod: kubeapi.JSON) -> None:
    """Raise UnsupportedVolume if the pod needs something this stand-in cannot provide."""
    for volume in pod["spec"].get("volumes", []):
        kinds = [k for k in volume if k != "name"]
        if not any(kind in SUPPORTED for kind in kinds):
            raise UnsupportedVolume(
                f"volume {volume['name']!r}: type {', '.join(kinds)} is not supported by "
                f"the kubelet stand-in (supported: {', '.join(SUPPORTED)})"
            )
        for source in volume.get("projected", {}).get("sources", []):
            unknown = set(source) - {"configMap", "secret", "downwardAPI", "serviceAccountToken"}
            if unknown:
                raise UnsupportedVolume(
                    f"volume {volume['name']!r}: projected source {sorted(unknown)} "
                    "is not supported by the kubelet stand-in"
                )


class PodVolumes:
    def __init__(
        self,
        pod: kubeapi.JSON,
        pod_dir: Path,
        sources: Sources,
        pod_ip: str,
        host_ip: str,
    ) -> None:
        self.pod = pod
        self.dir = pod_dir / "volumes"
        self.sources = sources
        self.pod_ip = pod_ip
        self.host_ip = host_ip
        self.paths: dict[str, Path] = {}
        self._tokens: dict[tuple[str, int], tuple[str, float]] = {}

    @property
    def namespace(self) -> str:
        ns: str = self.pod["metadata"].get("namespace", "default")
        return ns

    async def prepare(self) -> None:
        """Set up every volume; raises VolumeNotReady for one that cannot be set up yet."""
        for volume in self.pod["spec"].get("volumes", []):
            name = volume["name"]
            if "persistentVolumeClaim" in volume:
                self.paths[name] = self._claim(volume["persistentVolumeClaim"]["claimName"])
            elif "emptyDir" in volume:
                path = self.dir / name
                path.mkdir(parents=True, exist_ok=True)
                self.paths[name] = path
            elif "hostPath" in volume:
                path = Path(volume["hostPath"]["path"])
                if volume["hostPath"].get("type", "") in ("", "DirectoryOrCreate"):
                    path.mkdir(parents=True, exist_ok=True)
                self.paths[name] = path
            else:
                path = self.dir / name
                atomicdir.write(path, await self._render(volume))
                self.paths[name] = path

    async def refresh(self) -> None:
        """Re-render ConfigMap, Secret, downward API and projected volumes if changed."""
        for volume in self.pod["spec"].get("volumes", []):
            if volume["name"] in self.paths and any(kind in volume for kind in RENDERED):
                try:
                    if atomicdir.write(self.paths[volume["name"]], await self._render(volume)):
                        log.info("pod %s: volume %s updated", _pod_key(self.pod), volume["name"])
                except VolumeNotReady as error:
                    log.info(
                        "pod %s: volume %s not refreshed: %s",
                        _pod_key(self.pod),
                        volume["name"],
                        error,
                    )

    def mounts(self, container: kubeapi.JSON) -> list[sandbox.Mount]:
        """Where `container` sees its volumes; call after `prepare()`."""
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes", [])}
        mounts: list[sandbox.Mount] = []
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None or mount["name"] not in self.paths:
                raise UnsupportedVolume(
                    f"container {container['name']!r}: volumeMount {mount['name']!r} "
                    "names no volume of the pod"
                )
            source = self.paths[mount["name"]]
            if mount.get("subPathExpr"):
                raise UnsupportedVolume(
                    f"container {container['name']!r}: volumeMount {mount['name']!r}: "
                    "subPathExpr is not supported by the kubelet stand-in"
                )
            if mount.get("subPath"):
                source = _inside(source, mount["subPath"], mount["name"])
            read_only = bool(mount.get("readOnly")) or any(k in volume for k in RENDERED)
            if volume.get("persistentVolumeClaim", {}).get("readOnly"):
                read_only = True
            mounts.append(
                sandbox.Mount(source=str(source), target=mount["mountPath"], readOnly=read_only)
            )
        return mounts

    def cleanup(self) -> None:
        """Remove the pod's own volumes (emptyDir, rendered files); PV data stays."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def _claim(self, claim_name: str) -> Path:
        claim = self.sources.claims(self.namespace, claim_name)
        if claim is None:
            raise VolumeNotReady(f"persistentvolumeclaim {claim_name!r} not found")
        if claim.get("metadata", {}).get("deletionTimestamp"):
            raise VolumeNotReady(f"persistentvolumeclaim {claim_name!r} is being deleted")
        volume_name = claim["spec"].get("volumeName")
        phase = claim.get("status", {}).get("phase")
        if not volume_name or phase != "Bound":
            raise VolumeNotReady(f"persistentvolumeclaim {claim_name!r} is not bound")
        volume = self.sources.volumes(volume_name)
        if volume is None:
            raise VolumeNotReady(f"persistentvolume {volume_name!r} not found")
        spec = volume["spec"]
        path_text = spec.get("hostPath", {}).get("path") or spec.get("local", {}).get("path")
        if not path_text:
            raise UnsupportedVolume(
                f"persistentvolume {volume_name!r} (claim {claim_name!r}) is neither hostPath "
                "nor local; the kubelet stand-in cannot mount it"
            )
        path = Path(path_text)
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def _render(self, volume: kubeapi.JSON) -> dict[str, tuple[bytes, int]]:
        name = volume["name"]
        if "configMap" in volume:
            return self._object_files(volume["configMap"], False, volume["configMap"])
        if "secret" in volume:
            return self._object_files(volume["secret"], True, volume["secret"])
        if "downwardAPI" in volume:
            source = volume["downwardAPI"]
            return self._downward(source.get("items", []), source.get("defaultMode"))
        payload: dict[str, tuple[bytes, int]] = {}
        projected = volume["projected"]
        default_mode = projected.get("defaultMode", DEFAULT_MODE)
        for source in projected.get("sources", []):
            if "configMap" in source:
                payload.update(self._object_files(source["configMap"], False, projected))
            elif "secret" in source:
                payload.update(self._object_files(source["secret"], True, projected))
            elif "downwardAPI" in source:
                payload.update(self._downward(source["downwardAPI"].get("items", []), default_mode))
            elif "serviceAccountToken" in source:
                token_source = source["serviceAccountToken"]
                token = await self._token(
                    token_source.get("audience", ""),
                    int(token_source.get("expirationSeconds", 3600)),
                )
                payload[token_source["path"]] = (token.encode(), default_mode)
        if not payload and not projected.get("sources"):
            log.info("pod %s: projected volume %s is empty", _pod_key(self.pod), name)
        return payload

    def _object_files(
        self, ref: kubeapi.JSON, secret: bool, modes: kubeapi.JSON
    ) -> dict[str, tuple[bytes, int]]:
        """Files of a ConfigMap or Secret volume (or projected source)."""
        name = ref.get("secretName") or ref["name"]
        lookup = self.sources.secrets if secret else self.sources.configmaps
        obj = lookup(self.namespace, name)
        kind = "secret" if secret else "configmap"
        if obj is None:
            if ref.get("optional"):
                return {}
            raise VolumeNotReady(f"{kind} {name!r} not found")
        data: dict[str, bytes] = {}
        for key, value in obj.get("data", {}).items():
            data[key] = base64.b64decode(value) if secret else value.encode()
        for key, value in obj.get("binaryData", {}).items():
            data[key] = base64.b64decode(value)
        default_mode = modes.get("defaultMode", DEFAULT_MODE)
        items = ref.get("items")
        if not items:
            return {key: (value, default_mode) for key, value in data.items()}
        files: dict[str, tuple[bytes, int]] = {}
        for entry in items:
            if entry["key"] not in data:
                if ref.get("optional"):
                    continue
                raise VolumeNotReady(f"{kind} {name!r} has no key {entry['key']!r}")
            files[entry["path"]] = (data[entry["key"]], entry.get("mode", default_mode))
        return files

    def _downward(
        self, items: list[kubeapi.JSON], default_mode: int | None
    ) -> dict[str, tuple[bytes, int]]:
        files: dict[str, tuple[bytes, int]] = {}
        for entry in items:
            if "fieldRef" in entry:
                value = envvars.field(
                    self.pod, entry["fieldRef"]["fieldPath"], self.pod_ip, self.host_ip
                )
            else:
                value = envvars.resource_value(entry["resourceFieldRef"], self.pod)
            files[entry["path"]] = (value.encode(), entry.get("mode", default_mode or DEFAULT_MODE))
        return files

    async def _token(self, audience: str, seconds: int) -> str:
        cached = self._tokens.get((audience, seconds))
        # Like the kubelet: renew once 80% of the token's lifetime has passed.
        if cached is not None and time.time() < cached[1] - 0.2 * seconds:
            return cached[0]
        account = self.pod["spec"].get("serviceAccountName") or "default"
        token, expiry = await self.sources.token(
            self.namespace, account, audience, seconds, self.pod
        )
        self._tokens[(audience, seconds)] = (token, expiry)
        return token


def _inside(base: Path, sub_path: str, volume: str) -> Path:
    target = (base / sub_path).resolve()
    if not target.is_relative_to(base.resolve()):
        raise UnsupportedVolume(f"volumeMount {volume!r}: subPath {sub_path!r} leaves the volume")
    if not target.exists():
        target.mkdir(parents=True)
    return target


def _pod_key(pod: kubeapi.JSON) -> str:
    return f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"
