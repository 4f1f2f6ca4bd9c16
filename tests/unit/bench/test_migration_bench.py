"""The migration benchmark's rates over several shards per source: summed bytes over the
span from the first start to the last end, not the rate of one shard."""

from __future__ import annotations

from walrus_node.bench import migration
from walrus_node.protocol.views import ShardSyncView


def _view(
    shard: int, start: float, recovery: float, end: float, sent: int, rebuilt: int
) -> ShardSyncView:
    return ShardSyncView(
        shard=shard,
        state="done",
        source="node-1",
        bytes=sent,
        recovered_bytes=rebuilt,
        started_at=start,
        recovery_started_at=recovery,
        finished_at=end,
    )


def test_rates_sum_bytes_over_the_whole_span() -> None:
    views = [
        _view(0, 10.0, 12.0, 13.0, 10_000_000, 1_000_000),
        _view(1, 11.0, 14.0, 16.0, 10_000_000, 3_000_000),
    ]
    # 20 MB streamed between 10 s and 14 s; 4 MB rebuilt between 12 s and 16 s.
    assert migration._cooperative_rate(views) == 5.0
    assert migration._recovery_rate(views) == 1.0
    assert migration._recovery_span(views) == 4.0


def test_no_shards_no_rate() -> None:
    assert migration._cooperative_rate([]) == 0.0
    assert migration._recovery_rate([]) == 0.0
    assert migration._recovery_span([]) == 0.0
