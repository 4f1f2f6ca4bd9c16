"""Protocol messages and identities shared by node, client, testbed and operator. Pure.

* :mod:`.keys`     - Ed25519 key pairs, signatures, printable public keys;
* :mod:`.messages` - byte layouts of everything that is signed, certificate verification.
"""
