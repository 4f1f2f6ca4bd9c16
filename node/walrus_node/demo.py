"""The README's demo (``make demo``).

Shows the codec on its own: encode a blob for 7 shards, lose all but a third of the
slivers and read it back, catch a corrupted sliver, and rebuild a lost sliver from
recovery symbols.
"""

from __future__ import annotations

import os

from walrus_node.codec import decoder, encoder, errors, recovery, slivers
from walrus_node.codec.params import SliverType


def main() -> None:
    n = 7
    blob = os.urandom(1 << 20)
    encoded = encoder.encode(blob, n)
    params = encoded.params
    print(f"stored 1 MiB as blob {encoded.blob_id} over {n} shards (f={params.f})")

    keep = range(n - params.rows, n)
    primaries = {i: bytes(encoded.primary(i)) for i in keep}
    assert decoder.decode_primary(encoded.metadata, primaries) == blob
    print(f"read it back from primary slivers {list(keep)} only: identical")

    bad = bytearray(primaries[n - 1])
    bad[0] ^= 1
    try:
        slivers.verify_sliver(encoded.metadata, SliverType.PRIMARY, n - 1, bytes(bad))
    except errors.InvalidSliverError as e:
        print(f"flipped one bit: {e}")

    symbols = [
        symbol
        for j in range(params.f, n)
        for symbol in recovery.make_symbols(
            params, SliverType.SECONDARY, j, bytes(encoded.secondary(j)), encoded.symbol_size, [0]
        )
    ]
    rebuilt = recovery.recover_sliver(encoded.metadata, SliverType.PRIMARY, 0, symbols)
    assert rebuilt == bytes(encoded.primary(0))
    moved = sum(len(s.data) for s in symbols)
    print(
        f"rebuilt lost primary sliver 0 ({len(rebuilt)} B) "
        f"from {len(symbols)} recovery symbols ({moved} B moved)"
    )


if __name__ == "__main__":
    main()
