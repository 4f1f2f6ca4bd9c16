"""RedStuff (RS2 variant) erasure coding with Merkle commitments. Pure: no I/O.

Modules, bottom to top:

* :mod:`.params`   - sizes and index arithmetic that follow from the shard count;
* :mod:`.rs`       - systematic Reed-Solomon over GF(2^16) (``reed-solomon-simd``);
* :mod:`.merkle`   - domain-separated BLAKE3 Merkle trees and proofs;
* :mod:`.metadata` - blob metadata, blob IDs and their wire format;
* :mod:`.slivers`  - expanding, committing to and verifying one sliver;
* :mod:`.encoder`, :mod:`.decoder`, :mod:`.recovery` - whole blobs and lost slivers;
* :mod:`.errors`   - the error tree.

The per-symbol loops (Reed-Solomon, leaf and inner hashing, proofs) run in the native
module ``walrus_native`` (``native/``, Rust), one call per blob or sliver, over all cores
unless :func:`walrus_node.codec.threads.set_threads` says otherwise.

Import the modules, not their names: ``from walrus_node.codec import encoder`` then
``encoder.encode(blob, n)``.
"""
