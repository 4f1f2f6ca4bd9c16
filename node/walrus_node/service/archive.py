"""The committee archive: the signers' weights of past epochs, to verify old certificates.

Who calls it: :mod:`.committees` records every committee the node follows (current and
previous); :mod:`.registrations` looks up the committee of a certificate's epoch when it
is neither the current nor the previous one (a blob certified epochs ago, learned by
certificate catch-up or shard sync).

A certificate is accepted only if it verifies against a committee this node knows: one
it was given (committee file or ``Admin/SetCommittee``) at some point. Only what
verification needs is kept (shard count, and each signer's key and shard count), in the
store under ``state/committee-archive``, for the last ``max_epochs_ahead`` epochs: an
older certificate cannot hold a live registration (its end epoch is at most
``max_epochs_ahead`` after the epoch it was certified in), so nothing older is needed.

A node that joined the network recently knows no committee before the epoch it joined
in (minus one); certificates from before are accepted only when vouched for by members
of the current committee (:mod:`.certificate_sync`).
"""

from __future__ import annotations

import dataclasses
import json

from walrus_node.committee.committee import Committee
from walrus_node.protocol.committee_file import ActiveCommittees

__all__ = ["STATE_KEY", "ArchivedCommittee", "CommitteeArchive"]

STATE_KEY = "committee-archive"


@dataclasses.dataclass(frozen=True)
class ArchivedCommittee:
    """A past committee, as far as verifying a certificate needs it."""

    epoch: int
    n_shards: int
    weights: dict[bytes, int]

    def shard_count_of(self, public_key: bytes) -> int:
        return self.weights.get(public_key, 0)

    @classmethod
    def of(cls, committee: Committee) -> ArchivedCommittee:
        return cls(
            committee.epoch,
            committee.n_shards,
            {m.public_key: len(m.shards) for m in committee.members if m.shards},
        )


class CommitteeArchive:
    def __init__(self) -> None:
        self._by_epoch: dict[int, ArchivedCommittee] = {}

    def get(self, epoch: int) -> ArchivedCommittee | None:
        return self._by_epoch.get(epoch)

    def record(self, committees: ActiveCommittees) -> bool:
        """Remember the committees of a file; True if anything new was learned."""
        found = [committees.current]
        if committees.state.previous is not None:
            found.append(committees.state.previous)
        changed = False
        for committee in found:
            if committee.epoch not in self._by_epoch:
                self._by_epoch[committee.epoch] = ArchivedCommittee.of(committee)
                changed = True
        oldest = committees.epoch - committees.max_epochs_ahead
        for epoch in [e for e in self._by_epoch if e < oldest]:
            del self._by_epoch[epoch]
            changed = True
        return changed

    def to_bytes(self) -> bytes:
        return json.dumps(
            [
                {
                    "epoch": c.epoch,
                    "n_shards": c.n_shards,
                    "weights": {k.hex(): w for k, w in sorted(c.weights.items())},
                }
                for c in sorted(self._by_epoch.values(), key=lambda c: c.epoch)
            ]
        ).encode()

    def load(self, raw: bytes) -> None:
        """Restore what :meth:`to_bytes` wrote (this node's own store: trusted)."""
        for entry in json.loads(raw):
            weights = {bytes.fromhex(k): int(w) for k, w in entry["weights"].items()}
            archived = ArchivedCommittee(int(entry["epoch"]), int(entry["n_shards"]), weights)
            self._by_epoch.setdefault(archived.epoch, archived)
