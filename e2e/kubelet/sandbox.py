"""How a container's process sees its volumes: bind mounts in a private mount namespace,
or, where that is impossible, paths rewritten in its command line and environment.

Two halves in one file:

- `launch_argv()`/`write_spec()` run in the stand-in (`e2e.kubelet.container`): they
  write a launch spec (argv, env, working directory, mounts) and return the command that
  starts the container: `setpriv --pdeathsig KILL` (the process dies with the stand-in)
  then, in "namespace" mode, `unshare --mount --propagation private` (its mounts are its
  own), then this file run as a script.
- `main()` runs as that script, inside the new mount namespace: it bind-mounts every
  volume at its mountPath (read-only where asked), changes to the working directory and
  execs the container's command with the container's environment. It imports only the
  standard library, so it runs without the project on its path.

Mount points that do not exist are created (empty) in the host's file system, as a
container runtime creates them in an image's root file system; the mounts themselves are
visible only to the container, and to exec probes that enter its namespace.

"rewrite" mode (no root, so no mount namespace): each mountPath prefix in the argv and
environment values is replaced by the volume's host directory. Programs that build
paths from other sources than their arguments and environment will not see their volumes
there; the project's node takes its paths from its arguments, so it works in both modes.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, TypedDict


class Mount(TypedDict):
    source: str  # host path (directory or file)
    target: str  # mountPath in the container
    readOnly: bool


class Spec(TypedDict):
    argv: list[str]
    env: dict[str, str]
    cwd: str
    mounts: list[Mount]
    #: Host paths the "image" consists of (the project and its virtualenv): a volume
    #: mounted over one of their parents (an emptyDir at /tmp, say) must not hide them.
    image: list[str]


def namespaces_available() -> bool:
    """True if this process may create mount namespaces with bind mounts (root)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def rewrite(spec: Spec) -> Spec:
    """The spec with mountPath prefixes replaced by host paths, and no mounts.

    A mount path is replaced wherever it stands as a path of its own in a word: at the
    start, after `=`, `:`, a quote or white space, and followed by `/`, the end, a quote,
    white space or one of `:;,`."""
    # Longest mount paths first, so /etc/walrus/config wins over /etc/walrus.
    mounts = sorted(spec["mounts"], key=lambda m: len(m["target"]), reverse=True)
    patterns = [
        (
            re.compile(
                r"(?<![^\s=:'\"])" + re.escape(m["target"].rstrip("/")) + r"(?=$|[/\s'\":;,])"
            ),
            m["source"],
        )
        for m in mounts
    ]

    def fix(text: str) -> str:
        for pattern, source in patterns:
            text = pattern.sub(source.replace("\\", "\\\\"), text)
        return text

    return Spec(
        argv=[fix(arg) for arg in spec["argv"]],
        env={k: fix(v) for k, v in spec["env"].items()},
        cwd=fix(spec["cwd"]),
        mounts=[],
        image=spec["image"],
    )


def write_spec(path: Path, spec: Spec) -> None:
    path.write_text(json.dumps(spec, indent=1))
    path.chmod(0o600)


def launch_argv(spec_path: Path, namespace: bool) -> list[str]:
    """The command that starts the container described by the spec at `spec_path`."""
    argv = ["setpriv", "--pdeathsig", "KILL", "--"]
    if namespace:
        argv += ["unshare", "--mount", "--propagation", "private", "--"]
    return [*argv, sys.executable, "-I", str(Path(__file__).resolve()), str(spec_path)]


def exec_argv(pid: int, namespace: bool, argv: list[str]) -> list[str]:
    """The command that runs `argv` in the mount namespace of the container `pid`."""
    if not namespace:
        return argv
    return ["nsenter", f"--target={pid}", "--mount", "--", *argv]


_MS_RDONLY = 0x1
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000


def _mount_syscall(source: str, target: str, flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode(), target.encode(), None, flags, None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def _open_source(mount: Mount) -> int:
    """An O_PATH descriptor for the mount's source, taken before anything is mounted:
    a later mount (say an emptyDir at /tmp) may hide the source's path."""
    return os.open(mount["source"], os.O_PATH | os.O_CLOEXEC)


def _mount(mount: Mount, source_fd: int) -> None:
    target = Path(mount["target"])
    if stat.S_ISDIR(os.fstat(source_fd).st_mode):
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)
    # mount(2) follows the descriptor's magic link to the object it was opened on.
    _mount_syscall(f"/proc/self/fd/{source_fd}", str(target), _MS_BIND)
    if mount["readOnly"]:
        _mount_syscall("none", str(target), _MS_REMOUNT | _MS_BIND | _MS_RDONLY)


def _restore_image(image_fds: list[tuple[str, int]]) -> None:
    """Bind each image path that a volume now hides back at its own path, as an image's
    files stay visible beside the volumes in a real container."""
    for path, fd in image_fds:
        before = os.fstat(fd)
        try:
            now = os.stat(path)
            if (now.st_dev, now.st_ino) == (before.st_dev, before.st_ino):
                continue
        except FileNotFoundError:
            pass
        target = Path(path)
        if stat.S_ISDIR(before.st_mode):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch(exist_ok=True)
        _mount_syscall(f"/proc/self/fd/{fd}", path, _MS_BIND)


def main(argv: list[str]) -> Any:
    spec: Spec = json.loads(Path(argv[1]).read_text())
    # Parents before children: /etc/walrus before /etc/walrus/config.
    mounts = sorted(spec["mounts"], key=lambda m: m["target"].count("/"))
    try:
        fds = [_open_source(mount) for mount in mounts]
        image_fds = [
            (path, os.open(path, os.O_PATH | os.O_CLOEXEC))
            for path in spec.get("image", [])
            if os.path.exists(path)
        ]
    except OSError as error:
        print(f"sandbox: cannot open volume {error.filename}: {error.strerror}", file=sys.stderr)
        sys.exit(125)
    for mount, fd in zip(mounts, fds, strict=True):
        try:
            _mount(mount, fd)
        except OSError as error:
            print(
                f"sandbox: cannot mount {mount['source']} at {mount['target']}: {error}",
                file=sys.stderr,
            )
            sys.exit(125)
    try:
        _restore_image(image_fds)
    except OSError as error:
        print(f"sandbox: cannot keep the image visible: {error}", file=sys.stderr)
        sys.exit(125)
    for fd in fds + [fd for _, fd in image_fds]:
        os.close(fd)
    try:
        os.chdir(spec["cwd"])
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    except OSError as error:
        # The shell's convention: 127 for a command not found, 126 for one not runnable.
        print(f"sandbox: cannot run {spec['argv'][0]!r}: {error}", file=sys.stderr)
        sys.exit(127 if isinstance(error, FileNotFoundError) else 126)


if __name__ == "__main__":
    main(sys.argv)
