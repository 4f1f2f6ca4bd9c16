"""Directories whose whole content changes in one atomic step, as the kubelet writes
ConfigMap, Secret, downward API and projected volumes.

Layout of a volume directory `d` holding files `a` and `conf/b`::

    d/..2026_01_01_12_00_00.123456789/a        the current payload, a fresh directory
    d/..2026_01_01_12_00_00.123456789/conf/b
    d/..data -> ..2026_01_01_12_00_00.123456789
    d/a      -> ..data/a                         one symlink per top-level entry
    d/conf   -> ..data/conf

An update writes a new timestamped directory, then renames a new `..data` symlink over
the old one (rename(2) is atomic), then removes the old directory. A reader that opens
`d/a` sees either the old or the new payload, never a mix. Called by `e2e.kubelet.volumes`.
"""

from __future__ import annotations

import datetime
import os
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

DATA_LINK = "..data"

#: relative path -> (content, file mode)
Payload = Mapping[str, tuple[bytes, int]]


class PayloadError(Exception):
    """A file path in a volume's payload escapes the volume or is malformed."""


def _check(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or ".." in rel.parts or rel.parts[0].startswith(".."):
        raise PayloadError(f"volume file path {path!r} must be relative, without '..'")
    return rel


def read(directory: Path) -> dict[str, tuple[bytes, int]]:
    """The payload currently visible in `directory` (empty if never written)."""
    data = directory / DATA_LINK
    if not data.exists():
        return {}
    out: dict[str, tuple[bytes, int]] = {}
    for root, _dirs, files in os.walk(data.resolve()):
        for file in files:
            path = Path(root) / file
            rel = path.relative_to(data.resolve()).as_posix()
            out[rel] = (path.read_bytes(), path.stat().st_mode & 0o777)
    return out


def write(directory: Path, payload: Payload) -> bool:
    """Make `directory` show exactly `payload`; False if it already did (nothing written)."""
    if read(directory) == dict(payload):
        return False
    for path in payload:
        _check(path)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y_%m_%d_%H_%M_%S.%f")
    fresh = directory / f"..{stamp}"
    counter = 0
    while fresh.exists():
        counter += 1
        fresh = directory / f"..{stamp}_{counter}"
    fresh.mkdir()
    for path, (content, mode) in payload.items():
        target = fresh / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)

    data = directory / DATA_LINK
    old = data.resolve() if data.is_symlink() else None
    tmp_link = directory / "..data_tmp"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(fresh.name)
    tmp_link.replace(data)  # the atomic switch

    tops = {_check(path).parts[0] for path in payload}
    for top in tops:
        link = directory / top
        if not link.is_symlink():
            link.symlink_to(f"{DATA_LINK}/{top}")
    for entry in directory.iterdir():
        if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in tops:
            entry.unlink()
    if old is not None and old != fresh.resolve():
        shutil.rmtree(old, ignore_errors=True)
    return True
