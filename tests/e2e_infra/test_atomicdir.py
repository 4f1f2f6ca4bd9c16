"""ConfigMap-style volume directories switch their whole content atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.kubelet import atomicdir


def test_write_then_update_swaps_the_payload(tmp_path: Path) -> None:
    volume = tmp_path / "config"
    assert atomicdir.write(volume, {"node.yaml": (b"epoch: 1\n", 0o644), "d/x": (b"x", 0o600)})
    assert (volume / "node.yaml").read_text() == "epoch: 1\n"
    assert (volume / "d" / "x").read_bytes() == b"x"
    assert (volume / "node.yaml").is_symlink()
    first = (volume / atomicdir.DATA_LINK).resolve()

    assert not atomicdir.write(volume, {"node.yaml": (b"epoch: 1\n", 0o644), "d/x": (b"x", 0o600)})

    assert atomicdir.write(volume, {"node.yaml": (b"epoch: 2\n", 0o644)})
    assert (volume / "node.yaml").read_text() == "epoch: 2\n"
    assert not (volume / "d").exists()
    assert not first.exists()
    assert atomicdir.read(volume) == {"node.yaml": (b"epoch: 2\n", 0o644)}


@pytest.mark.parametrize("path", ["../escape", "/abs", "..hidden", ""])
def test_paths_outside_the_volume_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(atomicdir.PayloadError):
        atomicdir.write(tmp_path / "v", {path: (b"", 0o644)})
