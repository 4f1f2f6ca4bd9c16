"""``walrus testbed ...``: a local network of node processes, and fault and epoch drills."""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil

from walrus_node.cli.text import say, shard_ranges
from walrus_node.codec.metadata import BlobId
from walrus_node.protocol.committee_file import ActiveCommittees
from walrus_node.protocol.views import SyncStatus
from walrus_node.testbed import epochs
from walrus_node.testbed import testbed as testbed_mod

__all__ = ["DEFAULT_DIR", "add_parser"]

DEFAULT_DIR = ".testbed"


def _up(args: argparse.Namespace) -> None:
    bed = testbed_mod.Testbed.create(args.dir, args.nodes, args.shards, plaintext=args.plaintext)
    bed.up()
    security = "plaintext (no TLS)" if bed.plaintext else f"TLS, CA {bed.ca_cert_file}"
    say(f"{len(bed.nodes)} nodes serving {bed.n_shards} shards; data in {bed.directory}")
    say(f"transport: {security}")
    say(f"client configuration: {bed.client_config}")
    if pathlib.Path(args.dir).resolve() != pathlib.Path(DEFAULT_DIR).resolve():
        say(f"  export WALRUS_CONFIG={bed.client_config}")
    if args.gateway:
        url = bed.start_gateway(args.gateway_port)
        say(f"HTTP gateway (aggregator and publisher): {url}")
    if args.epoch_duration:
        bed.start_controller(args.epoch_duration)
        say(f"the epoch advances every {args.epoch_duration:g} s")


def _down(args: argparse.Namespace) -> None:
    bed = testbed_mod.Testbed.open(args.dir)
    bed.down()
    if args.purge:
        shutil.rmtree(bed.directory)
    say("stopped" + (" and removed" if args.purge else ""))


def _kill(args: argparse.Namespace) -> None:
    testbed_mod.Testbed.open(args.dir).kill(args.node)
    say(f"killed {args.node} (SIGKILL)")


def _start(args: argparse.Namespace) -> None:
    testbed_mod.Testbed.open(args.dir).start(args.node)
    say(f"{args.node} serving again")


def _corrupt(args: argparse.Namespace) -> None:
    try:
        blob_id = BlobId.parse(args.blob_id)
    except ValueError as e:
        raise testbed_mod.TestbedError(str(e)) from e
    shard, sliver_type = testbed_mod.Testbed.open(args.dir).corrupt(args.node, blob_id.raw)
    say(f"flipped a bit of {args.node}'s {sliver_type} sliver of shard {shard} on disk")


def _epoch(args: argparse.Namespace) -> None:
    driver = epochs.EpochDriver(testbed_mod.Testbed.open(args.dir))
    c = driver.advance()
    say(f"epoch {c.epoch} started ({c.phase})")
    if not args.no_wait:
        c = driver.wait(timeout=args.timeout)
        say(f"epoch {c.epoch}: every member holds its shards ({c.phase})")


def _add_node(args: argparse.Namespace) -> None:
    node = testbed_mod.Testbed.open(args.dir).add_node(args.stake)
    say(
        f"{node.name} started in standby with stake {node.stake}; it gets shards from the "
        "next epoch (walrus testbed epoch)"
    )


def _stake(args: argparse.Namespace) -> None:
    testbed_mod.Testbed.open(args.dir).set_stake(args.node, args.amount)
    say(f"{args.node} stake {args.amount}, effective from the next epoch")


def _remove_node(args: argparse.Namespace) -> None:
    testbed_mod.Testbed.open(args.dir).remove_node(args.node)
    say(f"{args.node} leaves at the next epoch; it stops once its shards have moved")


def _status(args: argparse.Namespace) -> None:
    bed = testbed_mod.Testbed.open(args.dir)
    c = bed.committees()
    if args.json:
        _status_json(bed, c)
        return
    print(f"epoch {c.epoch} {c.phase}, {c.n_shards} shards")
    if bed.gateway_url:
        print(f"gateway   {bed.gateway_url}")
    statuses = epochs.EpochDriver(bed).sync_statuses()
    for node in bed.nodes:
        member = c.current.by_name(node.name) if node.name in c.current else None
        running = f"pid {node.pid}" if node.is_running() else "stopped"
        shards = shard_ranges(member.shards) if member is not None else "-"
        line = f"{node.name:<9} {running:<11} stake {node.stake:<6} shards {shards:<12}"
        if node.leaving:
            line += " leaving"
        status = statuses.get(node.name)
        if isinstance(status, SyncStatus) and status.shards_total:
            state = "done" if status.epoch_sync_done else "syncing"
            line += (
                f" {state}: {status.shards_done}/{status.shards_total} gained shards, "
                f"{status.bytes_received / 1e6:.1f} MB received, "
                f"{status.slivers_recovered} slivers recovered"
            )
        elif member is not None:
            line += " in sync" if node.name in c.state.sync_done else " waiting"
        print(line)


def _status_json(bed: testbed_mod.Testbed, c: ActiveCommittees) -> None:
    statuses = epochs.EpochDriver(bed).sync_statuses()
    nodes = []
    for node in bed.nodes:
        member = c.current.by_name(node.name) if node.name in c.current else None
        row: dict[str, object] = {
            "name": node.name,
            "endpoint": node.endpoint,
            "running": node.is_running(),
            "pid": node.pid,
            "stake": node.stake,
            "leaving": node.leaving,
            "shards": list(member.shards) if member is not None else [],
            "inSync": member is not None and node.name in c.state.sync_done,
        }
        status = statuses.get(node.name)
        if isinstance(status, SyncStatus) and status.shards_total:
            row["sync"] = {
                "done": status.epoch_sync_done,
                "shardsDone": status.shards_done,
                "shardsTotal": status.shards_total,
                "bytesReceived": status.bytes_received,
                "sliversRecovered": status.slivers_recovered,
            }
        nodes.append(row)
    document = {
        "epoch": c.epoch,
        "phase": c.phase,
        "nShards": c.n_shards,
        "gateway": bed.gateway_url or None,
        "clientConfig": str(bed.client_config),
        "nodes": nodes,
    }
    print(json.dumps(document, indent=2))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bed = sub.add_parser("testbed", help="a local network of node processes")
    commands = bed.add_subparsers(dest="action", required=True)

    def command(name: str, fn: object, help_text: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help_text)
        p.add_argument("--dir", default=DEFAULT_DIR, help=f"testbed folder (default {DEFAULT_DIR})")
        p.set_defaults(fn=fn)
        return p

    up = command("up", _up, "create and start a testbed")
    up.add_argument("--nodes", type=int, default=7)
    up.add_argument("--shards", type=int, default=None, help="default: one per node")
    up.add_argument("--epoch-duration", type=float, default=0, help="advance every SECONDS")
    up.add_argument(
        "--plaintext",
        action="store_true",
        help="no TLS (only to measure what TLS costs; anyone on the host can call the nodes)",
    )
    up.add_argument("--gateway", action="store_true", help="also run `walrus gateway`")
    up.add_argument("--gateway-port", type=int, default=0, help="default: a free port")
    down = command("down", _down, "stop every node")
    down.add_argument("--purge", action="store_true", help="also delete the testbed's data")
    status = command("status", _status, "epoch, committee, shards and sync progress")
    status.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print results as JSON"
    )
    for name, fn, help_text in (
        ("kill", _kill, "SIGKILL a node"),
        ("start", _start, "start a stopped node"),
        ("corrupt", _corrupt, "flip a bit of a node's sliver on disk"),
        ("stake", _stake, "change a node's stake (next epoch)"),
        ("remove-node", _remove_node, "a node leaves at the next epoch"),
    ):
        p = command(name, fn, help_text)
        p.add_argument("node")
        if name == "corrupt":
            p.add_argument("blob_id")
        if name == "stake":
            p.add_argument("amount", type=int)
    epoch = command("epoch", _epoch, "advance to the next epoch now")
    epoch.add_argument("--no-wait", action="store_true", help="do not wait for shard sync")
    epoch.add_argument("--timeout", type=float, default=300.0, help="seconds to wait")
    add = command("add-node", _add_node, "start a new node; it gets shards next epoch")
    add.add_argument("--stake", type=int, default=testbed_mod.DEFAULT_STAKE)
