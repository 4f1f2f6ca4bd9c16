"""A file is encoded as its bytes would be, from a path or an open file at any position,
and a file that changes while read fails instead of giving a blob ID."""

from __future__ import annotations

import io
import os
import pathlib
from typing import Any

import pytest

from tests.unit.codec import samples
from walrus_node.client import blob_file
from walrus_node.codec import encoder


def _write(tmp_path: pathlib.Path, data: bytes) -> pathlib.Path:
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("length", [0, 1, 4097, 100_000])
def test_a_path_encodes_as_its_bytes(tmp_path: pathlib.Path, length: int) -> None:
    data = samples.blob(length)
    path = _write(tmp_path, data)
    for source in (path, str(path)):
        assert blob_file.encode_file(source, 10).blob_id == encoder.encode(data, 10).blob_id


def test_an_open_file_is_stored_from_its_position_to_its_end(tmp_path: pathlib.Path) -> None:
    data = samples.blob(50_000)
    path = _write(tmp_path, data)
    with path.open("rb") as f:
        f.seek(1234)
        assert blob_file.remaining_length(f) == len(data) - 1234
        got = blob_file.encode_file(f, 7)
    assert got.blob_id == encoder.encode(data[1234:], 7).blob_id
    stream = io.BytesIO(data)
    stream.seek(10)
    assert blob_file.encode_file(stream, 7).blob_id == encoder.encode(data[10:], 7).blob_id


class _Meddling(io.FileIO):
    """A file that, on its first read, has something done to it by another writer."""

    def __init__(self, path: pathlib.Path, meddle: Any) -> None:
        super().__init__(path, "rb")
        self._path = path
        self._meddle = meddle

    def readinto(self, buffer: Any) -> int | None:
        if self._meddle is not None:
            self._meddle(self._path)
            self._meddle = None
        return super().readinto(buffer)


def _grow(path: pathlib.Path) -> None:
    with path.open("ab") as f:
        f.write(b"more")


def _shrink(path: pathlib.Path) -> None:
    os.truncate(path, 100)


def _rewrite(path: pathlib.Path) -> None:
    with path.open("r+b") as f:
        f.seek(60_000)
        f.write(b"changed")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize(
    ("meddle", "how"),
    [(_grow, "grew beyond"), (_shrink, "shrank to 100 of"), (_rewrite, "was modified")],
)
def test_a_file_changed_while_read_is_refused(
    tmp_path: pathlib.Path, meddle: Any, how: str
) -> None:
    path = _write(tmp_path, samples.blob(100_000))
    with _Meddling(path, meddle) as f, pytest.raises(blob_file.FileChangedError) as caught:
        blob_file.encode_file(f, 10)
    assert how in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_pipe_cannot_be_stored_without_its_length() -> None:
    read_end, write_end = os.pipe()
    os.close(write_end)
    with open(read_end, "rb") as f, pytest.raises(blob_file.UnsizedFileError):
        blob_file.encode_file(f, 4)
