"""Which gained shards a recovery pass rebuilds together, and what giving up on a gone
previous owner does to its other shards: pure bookkeeping of :class:`ShardSync`."""

from __future__ import annotations

import types
from typing import Any

from walrus_node.service.blob_sync import targets_per_round
from walrus_node.service.shard_sync import ShardProgress, ShardSync


def _shard_sync(*progress: ShardProgress) -> ShardSync:
    config = types.SimpleNamespace(shard_sync_concurrency=2, shard_sync_memo_blobs=0)
    ctx: Any = types.SimpleNamespace(config=config)
    sync = ShardSync(ctx, None, None, None, None, None)  # type: ignore[arg-type]
    sync.progress = {p.shard: p for p in progress}
    return sync


def test_a_gone_source_sends_its_shards_not_started_to_recovery_at_once() -> None:
    running = ShardProgress(1, "node-0", started_at=5.0)
    waiting = [ShardProgress(s, "node-0") for s in (2, 3)]
    other = ShardProgress(4, "node-1")
    sync = _shard_sync(running, *waiting, other)
    sync._source_gone("node-0")
    assert [p.state for p in waiting] == ["recovering", "recovering"]
    assert all(p.recovery_started_at > 0 and p.started_at > 0 for p in waiting)
    assert running.state == "syncing"  # its own task gives up on the source itself
    assert other.state == "syncing"
    # one pass rebuilds every shard of the gone source, and no shard of a live one
    assert sync._recovering(running) == [1, 2, 3]
    assert sync._recovering(other) == [1, 2, 3, 4]  # its own shard always included


def test_done_shards_and_live_sources_are_left_out_of_a_recovery_pass() -> None:
    done = ShardProgress(1, "node-0", state="done")
    recovering = ShardProgress(2, "node-1", state="recovering")
    syncing = ShardProgress(3, "node-2")
    sync = _shard_sync(done, recovering, syncing)
    assert sync._recovering(recovering) == [2]
    sync._source_gone("node-0")
    assert sync._recovering(recovering) == [2]


def test_a_recovery_round_asks_for_as_many_slivers_as_fit_its_bytes() -> None:
    # 1000 shards, ~150-byte symbols: every lacking sliver of a blob in one round
    assert targets_per_round(64 << 20, 1000, 152) == 441
    # 10 shards, 1.2 MB symbols: five slivers a round; never less than one
    assert targets_per_round(64 << 20, 10, 1_200_000) == 5
    assert targets_per_round(1, 10, 1_200_000) == 1
