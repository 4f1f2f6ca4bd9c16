"""Admin requests: who may push a committee, and installing it.

Who calls it: the servicer's ``Admin`` service (``SetCommittee``, ``GetSyncStatus``)
through :class:`walrus_node.service.node.NodeService`. Only keys listed in the node's
``admin_public_keys`` setting may sign admin requests.
"""

from __future__ import annotations

import contextlib

from walrus_node.protocol import committee_file, errors, keys, messages
from walrus_node.service import basics
from walrus_node.service.committees import PUSHED_COMMITTEE, CommitteeWatch, freshness
from walrus_node.service.context import NodeContext

__all__ = ["ADMIN_CLOCK_SKEW_MS", "Admin"]

ADMIN_CLOCK_SKEW_MS = 5 * 60 * 1000
"""How far an admin request's timestamp may be from this node's clock."""


class Admin:
    def __init__(self, ctx: NodeContext, committees: CommitteeWatch) -> None:
        self.ctx = ctx
        self._committees = committees

    def verify(
        self, method: str, timestamp_ms: int, payload: bytes, signer: bytes, signature: bytes
    ) -> None:
        allowed = set()
        for text in self.ctx.config.admin_public_keys:
            with contextlib.suppress(ValueError):
                allowed.add(keys.parse_public_key(text))
        if signer not in allowed:
            raise errors.PermissionDenied("signer is not an admin of this node")
        if abs(basics.now_ms() - timestamp_ms) > ADMIN_CLOCK_SKEW_MS:
            raise errors.PermissionDenied("admin request timestamp is more than 5 minutes off")
        if not keys.verify(
            signer, signature, messages.admin_message(method, timestamp_ms, payload)
        ):
            raise errors.PermissionDenied("admin request signature does not verify")

    async def set_committee(self, committee_json: bytes) -> committee_file.ActiveCommittees:
        """Install a committee pushed by the operator/testbed, persisting it to the store."""
        try:
            parsed = committee_file.parse(committee_json)
        except committee_file.CommitteeFileError as e:
            raise errors.InvalidRequest(f"committee: {e}") from e
        current = self.ctx.committees
        if current is not None and parsed.epoch < current.epoch:
            raise errors.StaleEpoch(
                f"committee for epoch {parsed.epoch} is older than the current {current.epoch}"
            )
        if current is not None and freshness(parsed) < freshness(current):
            return current  # a newer one arrived through the committee file already
        await self.ctx.write(self.ctx.store.put_state, PUSHED_COMMITTEE, parsed.to_json())
        if self._committees.apply(parsed):
            await self._committees.changed()
        return parsed
