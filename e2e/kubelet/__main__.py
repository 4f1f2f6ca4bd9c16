"""Command line of the kubelet stand-in: `python -m e2e.kubelet --kubeconfig K --state-dir D`.

Runs until SIGTERM or SIGINT, then stops every pod's processes and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import signal
import sys
from pathlib import Path

from e2e.kubelet import kubelet
from e2e.kubelet.settings import Settings


def parse(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m e2e.kubelet", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        help="pods' volumes, logs and the stand-in's records",
    )
    parser.add_argument("--node-name", default="walrus-e2e-node")
    parser.add_argument(
        "--image",
        action="append",
        dest="images",
        metavar="NAME",
        help="repository name of an image to run (repeatable; default: walrus-node)",
    )
    parser.add_argument(
        "--venv-bin",
        type=Path,
        default=Settings.venv_bin,
        help="directory put first on containers' PATH",
    )
    parser.add_argument("--storage-class", default=Settings.storage_class)
    parser.add_argument("--volume-mode", choices=("auto", "namespace", "rewrite"), default="auto")
    args = parser.parse_args(argv)
    return Settings(
        kubeconfig=args.kubeconfig.resolve(),
        state_dir=args.state_dir.resolve(),
        node_name=args.node_name,
        images=tuple(args.images or Settings.images),
        venv_bin=args.venv_bin.resolve(),
        storage_class=args.storage_class,
        volume_mode=args.volume_mode,
    )


async def _main(settings: Settings) -> None:
    task = asyncio.create_task(kubelet.run(settings))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise


def main(argv: list[str] | None = None) -> int:
    # `kill -USR1 <pid>` prints every thread's stack to the log: for a stand-in that hangs.
    faulthandler.register(signal.SIGUSR1)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(_main(parse(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
