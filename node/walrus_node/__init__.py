"""Walrus storage network: codec, storage node, client and local testbed.

Subpackages, bottom to top (see docs/architecture.md):

* :mod:`walrus_node.codec` - RedStuff erasure code and commitments; pure, no I/O.
* :mod:`walrus_node.committee` - committees, epochs, prices and rewards; pure, no I/O.
"""
