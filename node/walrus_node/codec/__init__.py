"""RedStuff (RS2 variant) erasure coding with Merkle commitments. Pure: no I/O.

Modules, bottom to top:

* :mod:`.params`   - sizes and index arithmetic that follow from the shard count;
* :mod:`.isal`, :mod:`.rs` - systematic Cauchy Reed-Solomon over GF(2^8) (Intel ISA-L);
* :mod:`.merkle`   - domain-separated BLAKE3 Merkle trees and proofs;
* :mod:`.metadata` - blob metadata, blob IDs and their wire format;
* :mod:`.slivers`  - expanding, committing to and verifying one sliver;
* :mod:`.encoder`, :mod:`.decoder`, :mod:`.recovery` - whole blobs and lost slivers;
* :mod:`.errors`   - the error tree.

Import the modules, not their names: ``from walrus_node.codec import encoder`` then
``encoder.encode(blob, n)``.
"""
