"""A Byzantine storage node as a real process: it answers every stream with endless data.

Run as ``python -m tests.support.endless_peer --port P --count-file F [--port-file F2]
[--cert C --key K --ca A]``. ``GetRecoverySymbols`` and ``GetRecoverySymbolsBatch`` stream
complete 1 MiB symbols forever, ``GetSliver`` and ``SyncShard`` a sliver header followed
by endless bytes, ``ListCertificates`` the same certificate forever.
After every message it records in ``--count-file`` how many payload bytes the caller has
pulled so far, so a test can check where the caller cut it off. Everything else is
UNIMPLEMENTED.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio

from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.transport import convert
from walrus_proto.node.v1 import node_pb2 as pb

_CHUNK = 1 << 20


class _Counter:
    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.sent = 0

    def add(self, n: int) -> None:
        self.sent += n
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(self.sent))
        os.replace(tmp, self.path)


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, counter: _Counter) -> None:
        self.counter = counter
        self.payload = os.urandom(_CHUNK)

    def service(self, details: grpc.HandlerCallDetails) -> Any:
        name = str(details.method).rsplit("/", 1)[-1]  # type: ignore[attr-defined]
        ident = lambda b: b  # noqa: E731  raw bytes through
        counter, payload = self.counter, self.payload

        async def symbols(request: bytes, context: Any) -> AsyncIterator[bytes]:
            while True:
                part = pb.RecoverySymbolPart(
                    source_type=pb.SLIVER_TYPE_PRIMARY,
                    source_index=0,
                    target_index=0,
                    data=payload,
                    last=True,
                )
                if name == "GetRecoverySymbolsBatch":  # its parts come in groups
                    yield pb.RecoverySymbolParts(parts=[part]).SerializeToString()
                else:
                    yield part.SerializeToString()
                counter.add(len(payload))

        async def sliver(request: bytes, context: Any) -> AsyncIterator[bytes]:
            header = pb.SliverHeader(blob_id=b"\0" * 32, type=pb.SLIVER_TYPE_PRIMARY, size=1 << 40)
            if name == "SyncShard":
                yield pb.SyncShardPart(blob=pb.BlobRecord(blob_id=b"\0" * 32)).SerializeToString()
                yield pb.SyncShardPart(header=header).SerializeToString()
            else:
                yield pb.SliverPart(header=header).SerializeToString()
            while True:
                if name == "SyncShard":
                    yield pb.SyncShardPart(data=payload).SerializeToString()
                else:
                    yield pb.SliverPart(data=payload).SerializeToString()
                counter.add(len(payload))

        async def certificates(request: bytes, context: Any) -> AsyncIterator[bytes]:
            certificate = convert.certificate_to_pb(
                Certificate(1, b"\1" * 32, BlobRegistration(5), ((b"\2" * 32, b"\3" * 64),)), 1
            ).SerializeToString()
            while True:
                yield certificate
                counter.add(len(certificate))

        if name == "ListCertificates":
            return grpc.unary_stream_rpc_method_handler(certificates, ident, ident)
        if name in ("GetRecoverySymbols", "GetRecoverySymbolsBatch"):
            return grpc.unary_stream_rpc_method_handler(symbols, ident, ident)
        if name in ("GetSliver", "SyncShard"):
            return grpc.unary_stream_rpc_method_handler(sliver, ident, ident)
        return None


async def _serve(args: argparse.Namespace) -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([_Handler(_Counter(pathlib.Path(args.count_file)))])
    address = f"127.0.0.1:{args.port}"
    if args.cert:
        credentials = grpc.ssl_server_credentials(
            [(pathlib.Path(args.key).read_bytes(), pathlib.Path(args.cert).read_bytes())],
            root_certificates=pathlib.Path(args.ca).read_bytes(),
            require_client_auth=True,
        )
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    await server.start()
    pathlib.Path(args.count_file).write_text("0")
    if args.port_file:
        pathlib.Path(args.port_file).write_text(str(port))
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count-file", required=True)
    parser.add_argument("--port-file", help="where to write the bound port (with --port 0)")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
