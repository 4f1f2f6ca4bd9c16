"""Admin requests: who may push a committee, and installing it.

Who calls it: the servicer's ``Admin`` service (``SetCommittee``, ``GetSyncStatus``)
through :class:`walrus_node.service.node.NodeService`. Only keys listed in the node's
``admin_public_keys`` setting may sign admin requests, and every request is bound to
this node's network, to this node and to a nonce (:mod:`.replay`): a request is obeyed
once, by the node it was signed for.

The network a request must name is the ``network_id`` of the committee this node
follows. A ``SetCommittee`` must name the network of the committee it carries, which
must be this node's (a node in standby, with no committee yet, joins the network of the
first committee it is given; a committee without a network ID may be followed by one
with, never the other way round).
"""

from __future__ import annotations

import contextlib

from walrus_node.protocol import committee_file, errors, keys, messages
from walrus_node.protocol.messages import Binding
from walrus_node.service.committees import PUSHED_COMMITTEE, CommitteeWatch, freshness
from walrus_node.service.context import NodeContext
from walrus_node.service.replay import ReplayGuard

__all__ = ["Admin"]


class Admin:
    def __init__(self, ctx: NodeContext, committees: CommitteeWatch, guard: ReplayGuard) -> None:
        self.ctx = ctx
        self._committees = committees
        self._guard = guard

    def verify(
        self, method: str, binding: Binding, payload: bytes, signer: bytes, signature: bytes
    ) -> None:
        """Admit an admin request: a known signer, a valid signature, bound to this node
        and network, never seen before. Raises ``PermissionDenied`` naming the problem."""
        allowed = set()
        for text in self.ctx.config.admin_public_keys:
            with contextlib.suppress(ValueError):
                allowed.add(keys.parse_public_key(text))
        if signer not in allowed:
            raise errors.PermissionDenied("signer is not an admin of this node")
        try:
            message = messages.admin_message(binding, method, payload)
        except ValueError as e:
            raise errors.InvalidRequest(f"admin request: {e}") from e
        if not keys.verify(signer, signature, message):
            raise errors.PermissionDenied("admin request signature does not verify")
        self._guard.check(
            binding, self._network_for(method, payload), self.ctx.keypair.public_key, method
        )

    def _network_for(self, method: str, payload: bytes) -> str:
        current = self.ctx.committees
        if method != "SetCommittee":
            return current.network_id if current is not None else ""
        pushed = _parse(payload).network_id
        if current is not None and current.network_id and pushed != current.network_id:
            raise errors.PermissionDenied(
                f"the committee is for network {pushed!r}; this node is in network "
                f"{current.network_id!r}"
            )
        return pushed

    async def set_committee(self, committee_json: bytes) -> committee_file.ActiveCommittees:
        """Install a committee pushed by the operator/testbed, persisting it to the store."""
        parsed = _parse(committee_json)
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


def _parse(committee_json: bytes) -> committee_file.ActiveCommittees:
    try:
        return committee_file.parse(committee_json)
    except committee_file.CommitteeFileError as e:
        raise errors.InvalidRequest(f"committee: {e}") from e
