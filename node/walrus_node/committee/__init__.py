"""Committees, epochs and economics. Pure: no I/O, no clock, no randomness.

Shared by the storage node, the client, the local testbed and the Kubernetes operator, so
that all of them agree on who owns which shard, when an epoch change is over, what a
blob costs and how rewards are paid. Modules, bottom to top:

* :mod:`.errors`        - the error tree;
* :mod:`.member`        - node identities: candidates and committee members;
* :mod:`.committee`     - one epoch's members and shards, quorum and validity weights;
* :mod:`.apportionment` - shard counts by stake (D'Hondt with a per-node cap);
* :mod:`.transition`    - shard indices from counts, moving as few shards as possible;
* :mod:`.selection`     - candidates → committee (the two above together);
* :mod:`.epoch`         - the epoch state machine, and where to read and write;
* :mod:`.price`         - network prices from stake-weighted votes;
* :mod:`.cost`          - what storing a blob costs;
* :mod:`.reward`        - the reward pool split, commission, totals, staking summaries;
* :mod:`.lifetime`      - blob end epochs, extension, expiry, deletion.

Every value type converts to and from plain dicts (``to_dict``/``from_dict``) for JSON,
YAML, ConfigMaps and resource status; parsing errors name the field. Rules, units and
examples: ``docs/committee.md``. Import the modules, not their names:
``from walrus_node.committee import epoch`` then ``epoch.EpochState.genesis(...)``.
"""
