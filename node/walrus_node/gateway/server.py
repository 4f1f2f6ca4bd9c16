"""Running the gateway: bind the socket, print its address, serve with uvicorn until
SIGTERM or SIGINT (uvicorn then finishes the requests in flight, up to 30 s).

Who calls it: ``walrus gateway`` (cli/gateway_cmd.py). The socket is bound before the
server starts so that ``--port 0`` works: the first line on stdout is
``gateway listening on http://HOST:PORT``.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import uvicorn

from walrus_node.client import api
from walrus_node.client.config import ClientConfig
from walrus_node.gateway import app as app_mod
from walrus_node.gateway.settings import GatewaySettings

__all__ = ["bind", "serve"]


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def serve(settings: GatewaySettings, client_config: ClientConfig) -> None:
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"gateway listening on http://{shown}:{port}\n")
    sys.stdout.flush()

    async def main() -> None:
        gateway = app_mod.Gateway(api.WalrusClient(client_config), settings)
        config = uvicorn.Config(
            app_mod.build(gateway),
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=30,
            server_header=False,
        )
        await uvicorn.Server(config).serve(sockets=[sock])

    try:
        asyncio.run(main())
    finally:
        sock.close()
