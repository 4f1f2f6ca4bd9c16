"""Native hot loops of the walrus-k8s codec and Ed25519 verification (see
native/src/lib.rs). Only ``walrus_node.codec`` and ``walrus_node.protocol.keys`` import
this module."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer as _Buffer

# NumPy arrays export the buffer protocol, but their stubs say so only for Python >= 3.12.
Buffer = _Buffer | npt.NDArray[np.uint8]

DIGEST_SIZE: int

INLINE_HASH_BYTES: int
INLINE_CODE_BYTES: int

def set_threads(threads: int) -> None: ...
def threads() -> int: ...
def set_inline_limits(hash_bytes: int, code_bytes: int) -> None: ...
def inline_limits() -> tuple[int, int]: ...
def calls() -> tuple[int, int]: ...
def rs_supports(k: int, n: int) -> bool: ...
def rs_extend(
    buf: Buffer,
    k: int,
    n: int,
    s: int,
    groups: int,
    group_stride: int,
    shard_stride: int,
    offset: int = 0,
    matrix: bool | None = None,
) -> None: ...
def rs_reconstruct(
    k: int,
    n: int,
    s: int,
    groups: int,
    have: Sequence[int],
    sources: Sequence[Buffer],
    want: Sequence[int],
    out: Buffer,
    out_group_stride: int,
    out_index_stride: int,
    matrix: bool | None = None,
) -> None: ...
def hash(data: Buffer) -> bytes: ...
def hash_batch(data: Buffer, length: int, count: int, tail: bytes) -> bytes: ...
def leaf_hashes(
    buf: Buffer, s: int, count: int, offset: int = 0, stride: int | None = None
) -> bytes: ...
def merkle_roots(
    leaves: bytes, trees: int, width: int, tree_stride: int, leaf_stride: int
) -> bytes: ...
def matrix_roots(buf: Buffer, n: int, s: int) -> tuple[bytes, bytes]: ...
def sliver_roots(slivers: Sequence[Buffer], k: int, n: int, s: int) -> list[bytes]: ...
def sliver_leaves(sliver: Buffer, k: int, n: int, s: int) -> bytes: ...
def sliver_leaves_many(slivers: Sequence[Buffer], k: int, n: int, s: int) -> list[bytes]: ...
def merkle_proofs(leaves: bytes, indices: Sequence[int]) -> list[bytes]: ...
def verify_proofs(
    roots: Sequence[bytes],
    datas: Sequence[Buffer],
    indices: Sequence[int],
    proofs: Sequence[bytes],
) -> list[bool]: ...
def verify_ed25519(public_key: bytes, signature: bytes, message: bytes) -> bool: ...
