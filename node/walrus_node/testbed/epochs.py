"""The testbed's epoch controller: for local nodes, what the operator does in Kubernetes.

Who calls it: ``walrus testbed epoch`` (advance once and wait), ``walrus testbed up
--epoch-duration S`` (this module's ``main`` runs as a background process advancing every
``S`` seconds), the integration tests and the migration benchmark.

An epoch change, with the committee library's state machine
(:mod:`walrus_node.committee.epoch`):

1. select the next committee from the candidates (stake, not leaving) and start the change;
   publish the new committee file to every node and the client;
2. poll each new member's ``Admin/GetSyncStatus``; record the members that report all
   their gained shards received, and republish (the phase turns Stable once members
   holding ``n - f`` shards are done);
3. once Stable, stop nodes that were asked to leave and no longer hold shards.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from walrus_node.committee import errors as committee_errors
from walrus_node.committee.epoch import Phase
from walrus_node.protocol.committee_file import ActiveCommittees
from walrus_node.protocol.views import SyncStatus
from walrus_node.testbed.testbed import Testbed, TestbedError
from walrus_node.transport.client import RpcError

__all__ = ["EpochDriver"]


class EpochDriver:
    def __init__(self, bed: Testbed) -> None:
        self.bed = bed

    def advance(self) -> ActiveCommittees:
        """Select the next committee and start the change to it."""
        c = self.bed.committees()
        if c.state.phase is Phase.EPOCH_CHANGE:
            raise TestbedError(f"epoch {c.epoch} is still changing; see `walrus testbed status`")
        candidates = self.bed.candidates()
        try:
            state = c.state if c.state.next is not None else c.state.select_next(candidates)
            state = state.start_epoch_change()
        except committee_errors.CommitteeError as e:
            raise TestbedError(f"cannot change epoch: {e}") from e
        changed = ActiveCommittees(state, c.params)
        self.bed.epoch = changed.epoch
        self.bed.save()
        self.bed.publish_committee(changed)
        return self.record_progress()

    def sync_statuses(self) -> dict[str, SyncStatus | str]:
        """Each running member's sync progress (or why it could not be asked)."""
        c = self.bed.committees()
        admin = self.bed.admin_key
        running = {n.name: n for n in self.bed.nodes if n.is_running()}

        async def ask() -> dict[str, SyncStatus | str]:
            pool = self.bed.pool(timeout=10.0)
            out: dict[str, SyncStatus | str] = {}
            try:
                for member in c.current.members:
                    node = running.get(member.name)
                    if node is None:
                        out[member.name] = "not running"
                        continue
                    try:
                        peer = pool.peer(node.endpoint, node.name)
                        out[member.name] = await peer.get_sync_status(
                            admin, network_id=c.network_id, target=member.public_key
                        )
                    except RpcError as e:
                        out[member.name] = str(e)
            finally:
                await pool.close()
            return out

        return asyncio.run(ask())

    def record_progress(self) -> ActiveCommittees:
        """Record members done syncing; republish if that changed anything."""
        c = self.bed.committees()
        state = c.state
        for name, status in self.sync_statuses().items():
            if name in state.sync_done or isinstance(status, str):
                continue
            if status.epoch == state.epoch and status.epoch_sync_done:
                state = state.record_sync_done(name, state.epoch)
        if state != c.state:
            c = ActiveCommittees(state, c.params)
            self.bed.publish_committee(c)
        if c.state.phase is Phase.STABLE:
            for node in self.bed.nodes:
                if node.leaving and node.name not in c.current and node.is_running():
                    self.bed.kill(node.name, signal.SIGTERM)
        return c

    def wait(self, timeout: float = 300.0, poll: float = 0.2) -> ActiveCommittees:
        """Drive the change until every member of the current committee is done."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.record_progress()
            if set(c.current.names) <= c.state.sync_done:
                return c
            if time.monotonic() > deadline:
                pending = sorted(set(c.current.names) - c.state.sync_done)
                raise TestbedError(
                    f"epoch {c.epoch}: {pending} still syncing after {timeout:.0f} s"
                )
            time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    """Background controller: advance the epoch every ``--every`` seconds."""
    parser = argparse.ArgumentParser(prog="python -m walrus_node.testbed.epochs")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--every", type=float, required=True, help="epoch duration, seconds")
    args = parser.parse_args(argv)
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    next_change = time.monotonic() + args.every
    while not stop:
        driver = EpochDriver(Testbed.open(args.dir))
        try:
            if time.monotonic() >= next_change:
                driver.advance()
                next_change = time.monotonic() + args.every
            else:
                driver.record_progress()
        except TestbedError as e:
            print(f"epoch controller: {e}", file=sys.stderr, flush=True)
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
