"""Hypothesis strategies and small builders shared by the committee tests."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

from walrus_node.committee import committee, member, selection

NAMES = tuple(f"node-{i:02d}" for i in range(16))
SHARD_COUNTS = (4, 7, 10, 13, 31, 64)


def key_of(name: str) -> bytes:
    """A distinct 32-byte public key per name."""
    return name.encode().ljust(member.PUBLIC_KEY_SIZE, b"\x00")


def candidate(name: str, stake: int, **votes: int) -> member.NodeCandidate:
    return member.NodeCandidate(
        name=name,
        public_key=key_of(name),
        endpoint=f"127.0.0.1:{9100 + NAMES.index(name) if name in NAMES else 9999}",
        stake=stake,
        **votes,
    )


@st.composite
def stakes(
    draw: st.DrawFn, min_size: int = 1, max_size: int = 12, max_stake: int = 10**6
) -> dict[str, int]:
    """Node name → stake; the first drawn node has a positive stake, others may have zero."""
    names = draw(
        st.lists(st.sampled_from(NAMES), min_size=min_size, max_size=max_size, unique=True)
    )
    positive = st.integers(1, max_stake)
    some_zero = st.one_of(positive, positive, positive, st.just(0))
    return {name: draw(positive if i == 0 else some_zero) for i, name in enumerate(names)}


@st.composite
def candidates(draw: st.DrawFn, max_size: int = 12) -> list[member.NodeCandidate]:
    """Candidates with random stakes, commissions and votes (at least one positive stake)."""
    chosen = draw(stakes(max_size=max_size))
    return [
        candidate(
            name,
            stake,
            commission_bps=draw(st.integers(0, member.MAX_BPS)),
            storage_price_vote=draw(st.integers(0, 1000)),
            write_price_vote=draw(st.integers(0, 1000)),
        )
        for name, stake in chosen.items()
    ]


@st.composite
def committees(draw: st.DrawFn, n_shards: int | None = None) -> committee.Committee:
    """A committee selected from random candidates, first-committee style."""
    n = draw(st.sampled_from(SHARD_COUNTS)) if n_shards is None else n_shards
    epoch = draw(st.integers(0, 1000))
    return selection.select(draw(candidates()), n, epoch=epoch).committee


no_deadline = settings(deadline=None)
"""For every property test: a loaded CI machine must not turn a slow example into a failure."""
