"""Epoch records for operator tests, built with the committee library as the controller
builds them: `genesis` makes the record of a network whose first committee is `stakes`."""

from __future__ import annotations

import base64
import datetime

from walrus_node.committee import epoch, member, selection
from walrus_node.protocol import committee_file
from walrus_operator import epoch_record

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def key_of(name: str) -> bytes:
    """A distinct 32-byte public key per name."""
    return (name.encode() * 32)[:32]


def key_text(name: str) -> str:
    return base64.b64encode(key_of(name)).decode()


def candidate(name: str, stake: int, endpoint: str | None = None) -> member.NodeCandidate:
    return member.NodeCandidate(
        name=name,
        public_key=key_of(name),
        endpoint=endpoint or f"{name}.example:9185",
        stake=stake,
    )


def genesis(n_shards: int, stakes: dict[str, int]) -> epoch_record.EpochRecord:
    chosen = selection.select(
        [candidate(name, stake) for name, stake in stakes.items()], n_shards, epoch=1
    )
    state = epoch.EpochState.genesis(chosen.committee)
    return epoch_record.EpochRecord(committee_file.ActiveCommittees(state), started=START)
