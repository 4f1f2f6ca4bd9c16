"""Command line for the local control plane.

python -m e2e.controlplane install         build or find the binaries, print their paths
python -m e2e.controlplane up [--dir DIR]  start a cluster and keep it up until Ctrl-C
python -m e2e.controlplane down [--dir DIR]  stop what a crashed `up` left running
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from e2e.controlplane import binaries, cluster, process

DEFAULT_DIR = Path(tempfile.gettempdir()) / "walrus-e2e" / "cli"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m e2e.controlplane",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="build or find the binaries and print their paths")
    up = commands.add_parser("up", help="start a cluster; stops on Ctrl-C or SIGTERM")
    up.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="run directory (wiped)")
    up.add_argument("--no-kubelet", action="store_true", help="do not start the stand-in")
    up.add_argument("--node-name", default=cluster.DEFAULT_NODE_NAME)
    down = commands.add_parser("down", help="stop processes recorded in a run directory")
    down.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)

    if args.command == "install":
        tools = binaries.ensure()
        for name, path in vars(tools).items():
            print(f"{name.replace('_', '-')} {path}")
        return 0
    if args.command == "down":
        stopped = process.kill_recorded(args.dir)
        print(f"stopped: {', '.join(stopped) or 'nothing'}")
        return 0

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with cluster.start(args.dir, kubelet=not args.no_kubelet, node_name=args.node_name) as running:
        print(f"export KUBECONFIG={running.kubeconfig}")
        print(f"# kubectl: {running.binaries.kubectl}")
        print(f"# logs:    {running.run_dir}/*.log   (Ctrl-C stops the cluster)", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
