"""A node's service context on its own: a store in a directory, a committee of made-up
members whose first is this node, no server and no peers. For tests that drive the
service layer directly."""

from __future__ import annotations

import pathlib
from typing import Any

from walrus_node.committee import epoch, selection
from walrus_node.committee.member import NodeCandidate
from walrus_node.config import NodeConfig
from walrus_node.metrics import NodeMetrics
from walrus_node.protocol import committee_file, keys
from walrus_node.service.context import NodeContext
from walrus_node.store.store import Store
from walrus_node.transport.client import ChannelPool


def local_context(
    directory: pathlib.Path, members: int, n_shards: int, **settings: Any
) -> NodeContext:
    """Node ``n0``'s context in a genesis committee of ``members`` equal stakes over
    ``n_shards`` shards; ``settings`` go to its :class:`NodeConfig`. The caller ends it
    with :func:`close`."""
    pairs = {f"n{i}": keys.KeyPair.generate() for i in range(members)}
    candidates = [
        NodeCandidate(name=name, public_key=kp.public_key, endpoint="127.0.0.1:1", stake=100)
        for name, kp in pairs.items()
    ]
    committee = selection.select(candidates, n_shards, epoch=1).committee
    config = NodeConfig(
        name="n0",
        data_dir=directory / "data",
        key_file=directory / "key",
        committee_file=directory / "committee",
        **settings,
    )
    ctx = NodeContext(config, pairs["n0"], Store(directory / "data"), ChannelPool(), NodeMetrics())
    ctx.committees = committee_file.ActiveCommittees(epoch.EpochState.genesis(committee))
    return ctx


def close(ctx: NodeContext) -> None:
    """Stop the context's threads and close its store."""
    ctx.shutdown()
    ctx.store.close()
