"""A file as a blob to store: encoded straight from the file, and checked not to have
changed while it was read.

Who calls it: :meth:`WalrusClient.store <walrus_node.client.api.WalrusClient.store>` when
given a path or an open binary file, and so ``walrus store``.

The encoder reads the file row by row into its expanded matrix (``encoder.encode_from``),
so a store holds the encoded size and not the file beside it. The length is taken once,
before reading (the rest of the file from its current position); the blob ID commits to
that many bytes, so a file that changes under the encoder must fail the store rather than
give an ID for bytes that never existed together:

- it ends early (it shrank): :class:`FileChangedError`, from the short read;
- bytes follow the length (it grew): :class:`FileChangedError`;
- a regular file's size or modification time differs after the read: :class:`FileChangedError`.

A rewrite that keeps both the size and the modification time (a file system's clock
tick is coarse) cannot be seen from here; a file being written should not be stored.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable

from walrus_node.codec import encoder
from walrus_node.codec import errors as codec_errors

__all__ = [
    "BlobFileError",
    "FileChangedError",
    "FileSource",
    "UnsizedFileError",
    "encode_file",
    "remaining_length",
]

FileSource = str | os.PathLike[str] | io.BufferedIOBase | io.RawIOBase
"""A path (opened and closed here) or a binary file open for reading, from where it is."""


class BlobFileError(Exception):
    """A file that cannot be stored as it is (``OSError`` from the file is not wrapped)."""


class UnsizedFileError(BlobFileError):
    """A stream whose length cannot be known before reading it (a pipe): the encoding's
    layout depends on the length, so it would have to be read whole first."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: not a regular file or a seekable stream; save it to a file")
        self.name = name


class FileChangedError(BlobFileError):
    """The file changed while it was read: nothing was stored, no blob ID was computed."""

    def __init__(self, name: str, how: str) -> None:
        super().__init__(f"{name}: {how} while it was read; store it again once it is complete")
        self.name = name
        self.how = how


def encode_file(
    source: FileSource,
    n_shards: int,
    progress: Callable[[int], None] | None = None,
) -> encoder.EncodedBlob:
    """Encode a file (from its current position to its end) for ``n_shards`` shards;
    ``progress`` is told the size of each read. Raises a :class:`BlobFileError`,
    ``OSError`` from the file, or the codec's ``ParameterError`` (too big)."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb", buffering=0) as f:
            return _encode_open(f, os.fspath(source), n_shards, progress)
    return _encode_open(source, str(getattr(source, "name", "file")), n_shards, progress)


def remaining_length(f: io.BufferedIOBase | io.RawIOBase) -> int:
    """Bytes from ``f``'s position to its end: ``fstat`` for a regular file, else by
    seeking. Raises :class:`UnsizedFileError` for a file that can do neither (a pipe)."""
    status = _regular_status(f)
    if status is not None:
        return max(0, status.st_size - f.tell())
    if not f.seekable():
        raise UnsizedFileError(str(getattr(f, "name", "file")))
    here = f.tell()
    end = f.seek(0, io.SEEK_END)
    f.seek(here)
    return max(0, end - here)


def _regular_status(f: io.BufferedIOBase | io.RawIOBase) -> os.stat_result | None:
    try:
        status = os.fstat(f.fileno())
    except (OSError, io.UnsupportedOperation):
        return None
    return status if stat.S_ISREG(status.st_mode) else None


def _encode_open(
    f: io.BufferedIOBase | io.RawIOBase,
    name: str,
    n_shards: int,
    progress: Callable[[int], None] | None,
) -> encoder.EncodedBlob:
    before = _regular_status(f)
    length = remaining_length(f)
    if before is not None and hasattr(os, "posix_fadvise"):  # Linux; read front to back
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
    try:
        encoded = encoder.encode_from(f, length, n_shards, progress)
    except codec_errors.ShortReadError as e:
        raise FileChangedError(name, f"shrank to {e.got} of {e.expected} bytes") from e
    if f.read(1):
        raise FileChangedError(name, f"grew beyond {length} bytes")
    after = _regular_status(f)
    if before is not None and (
        after is None or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
    ):
        raise FileChangedError(name, "was modified")
    return encoded
