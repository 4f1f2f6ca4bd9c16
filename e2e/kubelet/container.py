"""One container of a pod, run as a local process: start, probe, restart, stop.

`e2e.kubelet.pod` creates a `Container` per container (and init container) of a pod and
runs `Container.run()`, which starts the process (through `e2e.kubelet.sandbox`),
restarts it after it exits according to the pod's restartPolicy with a doubling
back-off, and runs its probes (`e2e.kubelet.probes`). `stop()` sends SIGTERM to the
process group, SIGKILL after the grace period. The fields `state`, `last_state`,
`restart_count`, `ready` and `started` are what `e2e.kubelet.status` reports; every
change to them calls `PodContext.changed()`.

Output (stdout and stderr) goes to `<state-dir>/logs/<namespace>_<pod>_<uid>/<container>.log`,
appended across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from e2e import kubeapi
from e2e.controlplane import process
from e2e.kubelet import envvars, probes, sandbox, volumes
from e2e.kubelet.settings import Settings

log = logging.getLogger(__name__)


def now() -> str:
    """An RFC 3339 timestamp, as the API stores them."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class PodContext:
    """What a pod's containers share; filled in by `e2e.kubelet.pod`."""

    pod: Callable[[], kubeapi.JSON]  # the latest version of the pod object
    settings: Settings
    volumes: volumes.PodVolumes
    base_env: dict[str, str]
    configmaps: envvars.Lookup
    secrets: envvars.Lookup
    pod_ip: str
    host_ip: str
    dir: Path  # launch specs
    logs: Path
    namespace: bool  # run in a private mount namespace (else rewrite paths)
    changed: Callable[[], None]
    hosts: Path | None = None  # mounted at /etc/hosts unless the pod mounts something there

    @property
    def key(self) -> str:
        meta = self.pod()["metadata"]
        return f"{meta.get('namespace')}/{meta['name']}"


class Container:
    def __init__(
        self,
        context: PodContext,
        spec: kubeapi.JSON,
        init: bool,
        previous: kubeapi.JSON | None = None,
    ) -> None:
        self.context = context
        self.spec = spec
        self.name: str = spec["name"]
        self.init = init
        self.state: kubeapi.JSON = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: kubeapi.JSON = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.container_id = ""
        self.process: asyncio.subprocess.Process | None = None
        self.exit_code: int | None = None  # set once it will not run again
        self._probes: list[asyncio.Task[None]] = []
        self._killing: asyncio.Task[None] | None = None
        self._stopping = False
        self._env: dict[str, str] = {}
        if previous is not None:
            # The stand-in restarted: carry the count on, and count the lost run.
            self.restart_count = int(previous.get("restartCount", 0))
            if "running" in previous.get("state", {}):
                self.restart_count += 1

    def _set(self, **fields: object) -> None:
        for name, value in fields.items():
            setattr(self, name, value)
        self.context.changed()

    @property
    def _policy(self) -> str:
        policy: str = self.context.pod()["spec"].get("restartPolicy", "Always")
        return policy

    def _restarts(self, exit_code: int) -> bool:
        if self.init:
            return exit_code != 0 and self._policy != "Never"
        return self._policy == "Always" or (self._policy == "OnFailure" and exit_code != 0)

    async def run(self) -> int:
        """Run (and re-run) the container until it exits for good; its last exit code."""
        backoff = self.context.settings.backoff_initial
        while True:
            try:
                started_at = await self._start()
            except (envvars.EnvError, volumes.VolumeNotReady, volumes.UnsupportedVolume) as error:
                self._set(
                    state={
                        "waiting": {"reason": "CreateContainerConfigError", "message": str(error)}
                    }
                )
                await asyncio.sleep(backoff)
                continue
            except OSError as error:
                self._set(state={"waiting": {"reason": "RunContainerError", "message": str(error)}})
                await asyncio.sleep(backoff)
                continue
            assert self.process is not None
            returncode = await self.process.wait()
            # Like a container runtime, end whatever the process left running in its group.
            _signal_group(self.process.pid, signal.SIGKILL)
            self._cancel_probes()
            # A negative code means killed by a signal; runtimes report 128 + signal.
            exit_code = returncode if returncode >= 0 else 128 - returncode
            ran = time.monotonic() - started_at
            terminated = {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": self.state.get("running", {}).get("startedAt", now()),
                "finishedAt": now(),
                "containerID": self.container_id,
            }
            log.info(
                "pod %s: container %s exited with %d after %.1f s",
                self.context.key,
                self.name,
                exit_code,
                ran,
            )
            if self._stopping or not self._restarts(exit_code):
                self._set(
                    state={"terminated": terminated},
                    ready=False,
                    started=False,
                    exit_code=exit_code,
                )
                return exit_code
            if ran >= self.context.settings.backoff_reset:
                backoff = self.context.settings.backoff_initial
            message = (
                f"back-off {backoff:g}s restarting failed container={self.name} "
                f"pod={self.context.pod()['metadata']['name']}"
            )
            self._set(
                last_state={"terminated": terminated},
                state={"waiting": {"reason": "CrashLoopBackOff", "message": message}},
                ready=False,
                started=False,
            )
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, self.context.settings.backoff_max)
            self._set(restart_count=self.restart_count + 1)

    async def _start(self) -> float:
        pod = self.context.pod()
        env, argv = envvars.resolve(
            pod,
            self.spec,
            self.context.base_env,
            self.context.configmaps,
            self.context.secrets,
            self.context.pod_ip,
            self.context.host_ip,
        )
        spec = sandbox.Spec(
            argv=argv,
            env=env,
            cwd=self.spec.get("workingDir") or "/",
            mounts=self.context.volumes.mounts(self.spec),
            image=[str(path) for path in self.context.settings.image_paths()],
        )
        hosts = self.context.hosts
        if hosts is not None and all(m["target"] != "/etc/hosts" for m in spec["mounts"]):
            spec["mounts"].append(
                sandbox.Mount(source=str(hosts), target="/etc/hosts", readOnly=True)
            )
        if not self.context.namespace:
            spec = sandbox.rewrite(spec)
        spec_path = self.context.dir / f"{self.name}.json"
        sandbox.write_spec(spec_path, spec)
        self.context.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.context.logs / f"{self.name}.log"
        with log_path.open("ab") as out:
            out.write(f"--- {now()} start {self.restart_count}: {argv}\n".encode())
            out.flush()
            self.process = await asyncio.create_subprocess_exec(
                *sandbox.launch_argv(spec_path, self.context.namespace),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=_launcher_env(),
                start_new_session=True,
            )
        process.record(
            self.context.settings.state_dir, self.process.pid, f"{self.context.key}/{self.name}"
        )
        uid = pod["metadata"].get("uid", "")[:8]
        self._set(
            container_id=f"walrus-e2e://{uid}-{self.name}-{self.restart_count}",
            state={"running": {"startedAt": now()}},
            ready=False,
            started="startupProbe" not in self.spec,
        )
        log.info(
            "pod %s: container %s started, pid %d", self.context.key, self.name, self.process.pid
        )
        self._env = env
        self._start_probes(env)
        return time.monotonic()

    def _start_probes(self, env: dict[str, str], startup_done: bool = False) -> None:
        """Start the startup probe, or (without one, or once it passed) the others."""
        if self.init:
            return
        assert self.process is not None
        target = probes.Target(
            pod_ip=self.context.pod_ip,
            ports={
                p["name"]: int(p["containerPort"])
                for p in self.spec.get("ports", [])
                if p.get("name")
            },
            env=env,
            pid=self.process.pid,
            namespace=self.context.namespace,
        )
        if "startupProbe" in self.spec and not startup_done:
            kinds = [("startup", "startupProbe")]
        else:
            kinds = [("readiness", "readinessProbe"), ("liveness", "livenessProbe")]
            if "readinessProbe" not in self.spec:
                self._set(ready=True)
        for kind, field in kinds:
            if field in self.spec:
                prober = probes.Prober(kind, self.spec[field], target, self._on_probe)
                self._probes.append(asyncio.create_task(prober.run()))

    def _on_probe(self, kind: str, healthy: bool, message: str) -> None:
        if kind == "readiness":
            if healthy != self.ready:
                self._set(ready=healthy)
            return
        if kind == "startup" and healthy:
            self._set(started=True)
            self._probes = [t for t in self._probes if not t.done()]
            self._start_probes(self._env, startup_done=True)
            return
        if not healthy and (self._killing is None or self._killing.done()):
            log.info(
                "pod %s: container %s failed its %s probe (%s); restarting",
                self.context.key,
                self.name,
                kind,
                message,
            )
            self._killing = asyncio.create_task(self._kill(self._grace()))

    def _cancel_probes(self) -> None:
        for task in self._probes:
            task.cancel()
        self._probes.clear()

    def _grace(self) -> float:
        grace = self.context.pod()["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.context.pod()["spec"].get("terminationGracePeriodSeconds", 30)
        return float(grace)

    async def _kill(self, grace: float) -> None:
        """SIGTERM to the process group; SIGKILL after `grace` seconds."""
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
        except TimeoutError:
            log.info(
                "pod %s: container %s ignored SIGTERM for %g s; killing",
                self.context.key,
                self.name,
                grace,
            )
        _signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()

    async def stop(self, grace: float, runner: asyncio.Task[int] | None) -> None:
        """Stop the container for good (pod deletion or stand-in shutdown)."""
        self._stopping = True
        self._cancel_probes()
        running = self.process is not None and self.process.returncode is None
        await self._kill(grace)
        if runner is not None and not runner.done():
            if running:
                # The runner sees the exit and records it.
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(runner), 5.0)
            # Else it was backing off or waiting to start: nothing to wait for.
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        if "terminated" not in self.state and "terminated" in self.last_state:
            self._set(state=self.last_state, ready=False)  # stopped while backing off
        elif "terminated" not in self.state:
            self._set(
                state={"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": now()}},
                ready=False,
            )


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _launcher_env() -> dict[str, str]:
    """The environment of the launch tools (setpriv, unshare); the container's own
    environment is in its launch spec."""
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8"}
