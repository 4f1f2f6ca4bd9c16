"""The HTTP gateway against 7 real node processes: Walrus's paths, shapes and headers,
ranged reads that fetch only what covers the range, and the publisher's limits."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import pathlib
import re
import threading
import urllib.request
from collections.abc import Iterator

import jwt
import pytest

from tests.support import gateway as gateway_mod
from tests.support.gateway import GatewayProcess
from walrus_node.client.api import ClientError, WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams
from walrus_node.gateway import owner_proof
from walrus_node.protocol import keys
from walrus_node.testbed.testbed import Testbed

from .conftest import owners, run

MiB = 1 << 20
SECRET = b"a shared secret of the token seller, 32+ bytes"


@pytest.fixture
def gateway(testbed: Testbed, tmp_path: pathlib.Path) -> Iterator[GatewayProcess]:
    gw = gateway_mod.start(testbed.client_config, tmp_path)
    try:
        yield gw
    finally:
        gw.stop()


def _served(bed: Testbed) -> dict[str, float]:
    """Primary slivers and symbol-run calls served, summed over the nodes."""
    totals = {"slivers": 0.0, "symbol_calls": 0.0}
    for node in bed.nodes:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics") as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith('walrus_slivers_served_total{sliver_type="primary"}'):
                totals["slivers"] += float(line.split()[-1])
            m = re.match(r'walrus_rpc_duration_seconds_count\{.*"GetSliverSymbols".*\} (\S+)', line)
            if m:
                totals["symbol_calls"] += float(m.group(1))
    return totals


def _put(gw: GatewayProcess, data: bytes, query: str = "", **headers: str) -> gateway_mod.Reply:
    return gw.request("PUT", f"/v1/blobs{query}", body=data, headers=headers)


def test_put_then_get_returns_the_bytes_with_walrus_shapes_and_headers(
    gateway: GatewayProcess,
) -> None:
    data = os.urandom(3 * MiB + 17)
    reply = _put(gateway, data, "?epochs=2")
    assert reply.status == 200, reply.body
    created = reply.json()["newlyCreated"]
    blob = created["blobObject"]
    assert blob["size"] == len(data)
    assert blob["deletable"] is True  # Walrus's default
    assert blob["storage"]["endEpoch"] == blob["registeredEpoch"] + 2
    assert created["resourceOperation"]["registerFromScratch"]["epochsAhead"] == 2
    assert isinstance(created["cost"], int)
    blob_id = blob["blobId"]

    got = gateway.request("GET", f"/v1/blobs/{blob_id}")
    assert got.status == 200
    assert got.body == data
    assert got.headers["etag"] == f'"{blob_id}"'
    assert got.headers["content-length"] == str(len(data))
    assert "immutable" in got.headers["cache-control"]
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["accept-ranges"] == "bytes"

    head = gateway.request("HEAD", f"/v1/blobs/{blob_id}")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(data))

    again = gateway.request(
        "GET", f"/v1/blobs/{blob_id}", headers={"If-None-Match": f'"{blob_id}"'}
    )
    assert again.status == 304


def test_content_type_is_sniffed_from_the_first_bytes(gateway: GatewayProcess) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(5000)
    blob_id = _put(gateway, png).json()["newlyCreated"]["blobObject"]["blobId"]
    assert gateway.request("GET", f"/v1/blobs/{blob_id}").headers["content-type"] == "image/png"
    text = b"hello, walrus\n" * 100
    blob_id = _put(gateway, text).json()["newlyCreated"]["blobObject"]["blobId"]
    assert (
        gateway.request("HEAD", f"/v1/blobs/{blob_id}")
        .headers["content-type"]
        .startswith("text/plain")
    )


def test_permanent_blob_stored_twice_is_already_certified(gateway: GatewayProcess) -> None:
    data = os.urandom(100_000)
    first = _put(gateway, data, "?permanent=true&epochs=2").json()
    blob_id = first["newlyCreated"]["blobObject"]["blobId"]
    assert first["newlyCreated"]["blobObject"]["deletable"] is False
    again = _put(gateway, data, "?permanent=true&epochs=1").json()
    assert again["alreadyCertified"]["blobId"] == blob_id
    assert (
        again["alreadyCertified"]["endEpoch"]
        == first["newlyCreated"]["blobObject"]["storage"]["endEpoch"]
    )
    forced = _put(gateway, data, "?permanent=true&force=true").json()
    assert "newlyCreated" in forced


def _owner_headers(pair: keys.KeyPair) -> dict[str, str]:
    proof = pair.sign(owner_proof.message(pair.public_key))
    return {
        "X-Walrus-Owner": keys.encode_public_key(pair.public_key),
        "X-Walrus-Owner-Proof": base64.b64encode(proof).decode(),
    }


def _owners_of(bed: Testbed, blob_id: str) -> set[bytes]:
    async def go(client: WalrusClient) -> set[bytes]:
        return {
            reg.owner_public_key
            for _, status in await client.status(BlobId.parse(blob_id))
            if not isinstance(status, str)
            for reg in status.registrations
            if reg.deletable
        }

    return run(go, bed.client_config)


def _delete(bed: Testbed, blob_id: str, pair: keys.KeyPair) -> int:
    async def go(client: WalrusClient) -> int:
        return (await client.delete(BlobId.parse(blob_id), pair))[0]

    return run(go, bed.client_config)


def test_deletable_blobs_are_owned_by_a_proven_caller_key_and_already_certified_per_owner(
    testbed: Testbed, gateway: GatewayProcess
) -> None:
    data = os.urandom(200_000)
    alice, bob = keys.KeyPair.generate(), keys.KeyPair.generate()
    first = _put(gateway, data, "?epochs=2", **_owner_headers(alice)).json()
    blob_id = first["newlyCreated"]["blobObject"]["blobId"]
    assert first["newlyCreated"]["blobObject"]["deletable"] is True
    assert _owners_of(testbed, blob_id) == {alice.public_key}

    # the same owner again, for no longer: Walrus's answer for an owned Blob object
    again = _put(gateway, data, "?epochs=1", **_owner_headers(alice)).json()
    end = first["newlyCreated"]["blobObject"]["storage"]["endEpoch"]
    assert again == {"alreadyCertified": {"blobId": blob_id, "object": blob_id, "endEpoch": end}}
    # longer than certified, another owner, or forced: stored
    assert "newlyCreated" in _put(gateway, data, "?epochs=3", **_owner_headers(alice)).json()
    assert "newlyCreated" in _put(gateway, data, "?epochs=1", **_owner_headers(bob)).json()
    assert _owners_of(testbed, blob_id) == {alice.public_key, bob.public_key}
    # the tenant's key owns none of them, so its first deletable upload is new
    tenant = _put(gateway, data, "?epochs=1").json()
    assert "newlyCreated" in tenant
    assert "alreadyCertified" in _put(gateway, data, "?epochs=1").json()

    with pytest.raises(ClientError, match="no node deleted"):
        _delete(testbed, blob_id, keys.KeyPair.generate())
    assert _delete(testbed, blob_id, alice) > 0
    assert alice.public_key not in _owners_of(testbed, blob_id)

    forged = _owner_headers(alice)
    forged["X-Walrus-Owner"] = keys.encode_public_key(bob.public_key)
    refused = _put(gateway, data, "", **forged)
    assert refused.status == 400
    assert refused.json()["error"]["details"][0]["reason"] == "INVALID_OWNER"
    permanent = _put(gateway, data, "?permanent=true", **_owner_headers(alice))
    assert permanent.status == 400


def test_range_read_fetches_only_the_covering_symbols(
    testbed: Testbed, gateway: GatewayProcess
) -> None:
    params = EncodingParams(7)
    data = os.urandom(30 * MiB)
    blob_id = _put(gateway, data, "?permanent=true").json()["newlyCreated"]["blobObject"]["blobId"]
    symbol = -(-len(data) // params.source_symbols)  # 2 MiB
    before = _served(testbed)
    start, end = 5 * MiB + 3, 6 * MiB + 3  # 1 MiB inside one or two symbols of one row
    got = gateway.request(
        "GET", f"/v1/blobs/{blob_id}", headers={"Range": f"bytes={start}-{end - 1}"}
    )
    after = _served(testbed)
    assert got.status == 206
    assert got.body == data[start:end]
    assert got.headers["content-range"] == f"bytes {start}-{end - 1}/{len(data)}"
    assert after["slivers"] == before["slivers"], "no whole sliver is fetched for 1 MiB"
    assert after["symbol_calls"] - before["symbol_calls"] == 1, "one run of one row"

    # a suffix range across a row boundary: whole rows as slivers, the rest as symbols
    row = params.columns * symbol
    tail = gateway.request("GET", f"/v1/blobs/{blob_id}", headers={"Range": f"bytes={row - 10}-"})
    assert tail.status == 206
    assert tail.body == data[row - 10 :]
    bad = gateway.request("GET", f"/v1/blobs/{blob_id}", headers={"Range": f"bytes={len(data)}-"})
    assert bad.status == 416
    assert bad.headers["content-range"] == f"bytes */{len(data)}"


def test_body_streams_before_the_whole_blob_is_fetched(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    # One row in flight. Rows of ~21 MiB: once the first row is written to the socket,
    # writing the second waits until the reader has taken most of the first, so while the
    # reader has read only its first bytes the third row cannot have been asked for.
    gw = gateway_mod.start(testbed.client_config, tmp_path, "--read-window", "1")
    try:
        data = os.urandom(64 * MiB)
        reply = _put(gw, data, "?permanent=true")
        blob_id = reply.json()["newlyCreated"]["blobObject"]["blobId"]
        before = _served(testbed)
        host, port = gw.host_port
        with urllib.request.urlopen(f"http://{host}:{port}/v1/blobs/{blob_id}", timeout=300) as r:
            first = r.read(1000)
            mid = _served(testbed)
            rest = r.read()
        after = _served(testbed)
    finally:
        gw.stop()
    assert first + rest == data
    assert mid["slivers"] - before["slivers"] <= 2 < EncodingParams(7).rows
    assert after["slivers"] - before["slivers"] == EncodingParams(7).rows


def test_errors_are_json_with_walrus_reasons(testbed: Testbed, gateway: GatewayProcess) -> None:
    missing = gateway.request("GET", "/v1/blobs/" + "A" * 43)
    assert missing.status == 404
    assert missing.json()["error"]["details"][0]["reason"] == "BLOB_NOT_FOUND"
    bad = gateway.request("GET", "/v1/blobs/not-a-blob-id")
    assert bad.status == 400
    assert bad.json()["error"]["code"] == 400
    both = _put(gateway, b"x", "?permanent=true&deletable=true")
    assert both.status == 400
    assert both.json()["error"]["details"][0]["reason"] == "INVALID_BLOB_PERSISTENCE"

    data = os.urandom(50_000)
    blob_id = _put(gateway, data).json()["newlyCreated"]["blobObject"]["blobId"]
    # Five of seven nodes down, the owner of the first row among them: the body cannot
    # start, so the answer is known before any header is sent. (A stream whose first row
    # is served sends 200 and may only break off later, which is another test's case.)
    first_row = owners(testbed)[EncodingParams(7).shard_of_pair(BlobId.parse(blob_id).raw, 0)]
    others = [n.name for n in testbed.nodes if n.name != first_row]
    for name in [first_row, *others[:4]]:
        testbed.kill(name)
    down = gateway.request("GET", f"/v1/blobs/{blob_id}")
    assert down.status == 503
    assert down.json()["error"]["details"][0]["reason"] == "BLOB_UNAVAILABLE"


def test_openapi_health_and_metrics(gateway: GatewayProcess) -> None:
    doc = gateway.request("GET", "/v1/api").json()
    assert set(doc["paths"]) == {"/v1/blobs/{blob_id}", "/v1/blobs"}
    assert gateway.request("GET", "/health").status == 200
    gateway.request("GET", "/v1/blobs/" + "A" * 43)
    metrics = gateway.request("GET", "/metrics").body.decode()
    assert (
        'walrus_gateway_requests_total{method="GET",route="/v1/blobs/{blob_id}",status="404"} 1.0'
        in metrics
    )


def test_publisher_limits_body_size_and_concurrency(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    gw = gateway_mod.start(
        testbed.client_config,
        tmp_path,
        "--publisher",
        "--max-body-bytes", str(MiB),
        "--max-concurrent-uploads", "1",
        "--max-queued-uploads", "0",
    )  # fmt: skip
    try:
        assert gw.request("GET", "/v1/blobs/" + "A" * 43).status == 404  # no aggregator
        too_big = _put(gw, os.urandom(MiB + 1))
        assert too_big.status == 413
        assert too_big.json()["error"]["details"][0]["reason"] == "BLOB_TOO_LARGE"

        # one slot and no queue: of several uploads at once, some get 429
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda _: _put(gw, os.urandom(MiB)), range(6)))
        statuses = sorted(r.status for r in replies)
        assert 200 in statuses
        assert 429 in statuses
        assert set(statuses) <= {200, 429}
        assert all(r.headers.get("retry-after") == "1" for r in replies if r.status == 429)
    finally:
        gw.stop()


def test_publisher_with_jwt_checks_signature_claims_and_replays(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    secret = tmp_path / "jwt.secret"
    secret.write_bytes(SECRET)
    gw = gateway_mod.start(testbed.client_config, tmp_path, "--jwt-key-file", str(secret))
    lock = threading.Lock()
    counter = [0]

    def token(key: bytes = SECRET, **claims: object) -> str:
        with lock:
            counter[0] += 1
            jti = f"t{counter[0]}"
        payload = {"exp": 4_000_000_000, "jti": jti, **claims}
        return "Bearer " + jwt.encode(payload, key, algorithm="HS256")

    try:
        assert _put(gw, b"data").status == 401
        assert (
            _put(
                gw, b"data", Authorization=token(key=b"another secret, not the seller's one")
            ).status
            == 401
        )
        assert (
            _put(gw, b"data", Authorization=token(exp=1)).json()["error"]["details"][0]["reason"]
            == "EXPIRED_TOKEN"
        )
        assert _put(gw, b"x" * 100, Authorization=token(max_size=10)).status == 403
        assert _put(gw, b"x" * 100, Authorization=token(size=99)).status == 403
        assert _put(gw, b"x", "?epochs=3", Authorization=token(max_epochs=2)).status == 403
        assert _put(gw, b"x", "?epochs=1", Authorization=token(epochs=2)).status == 403
        good = token(max_size=1000, max_epochs=2)
        assert _put(gw, b"y" * 100, "?epochs=2", Authorization=good).status == 200
        reused = _put(gw, b"y" * 100, "?epochs=2", Authorization=good)
        assert reused.status == 401
        assert reused.json()["error"]["details"][0]["reason"] == "TOKEN_REUSED"
        # a refused upload does not use up its token
        refused_then_ok = token(max_size=1000)
        assert _put(gw, b"z" * 2000, Authorization=refused_then_ok).status == 403
        assert _put(gw, b"z" * 20, Authorization=refused_then_ok).status == 200
    finally:
        gw.stop()


def test_testbed_runs_a_gateway_and_stops_it_on_down(testbed: Testbed) -> None:
    url = testbed.start_gateway()
    data = b"over http" * 1000
    request = urllib.request.Request(f"{url}/v1/blobs", data=data, method="PUT")
    with urllib.request.urlopen(request) as reply:
        blob_id = json.loads(reply.read())["newlyCreated"]["blobObject"]["blobId"]
    with urllib.request.urlopen(f"{url}/v1/blobs/{blob_id}") as reply:
        assert reply.read() == data
    reopened = Testbed.open(testbed.directory)
    assert reopened.gateway_url == url
    pid = reopened.gateway_pid
    reopened.down()
    assert not pathlib.Path(f"/proc/{pid}").exists() or _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_hot_blobs_are_served_from_the_cache_without_asking_the_nodes(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    gw = gateway_mod.start(testbed.client_config, tmp_path, "--cache-bytes", str(8 * MiB))
    try:
        data = b"\x89PNG\r\n\x1a\n" + os.urandom(2 * MiB)
        blob_id = _put(gw, data).json()["newlyCreated"]["blobObject"]["blobId"]
        assert gw.request("GET", f"/v1/blobs/{blob_id}").body == data  # fills the cache
        before = _served(testbed)
        again = gw.request("GET", f"/v1/blobs/{blob_id}")
        part = gw.request("GET", f"/v1/blobs/{blob_id}", headers={"Range": "bytes=100-199"})
        head = gw.request("HEAD", f"/v1/blobs/{blob_id}")
        assert _served(testbed) == before, "served from memory"
        assert again.body == data
        assert again.headers["content-type"] == "image/png"
        assert (part.status, part.body) == (206, data[100:200])
        assert head.headers["content-length"] == str(len(data))
        metrics = gw.request("GET", "/metrics").body.decode()
        line = next(x for x in metrics.splitlines() if x.startswith("walrus_gateway_cache_bytes "))
        assert float(line.split()[1]) == pytest.approx(len(data), rel=1e-5)
    finally:
        gw.stop()


def test_a_read_falls_back_when_a_row_owner_is_down(
    testbed: Testbed, gateway: GatewayProcess
) -> None:
    params = EncodingParams(7)
    data = os.urandom(3 * MiB)
    blob_id = _put(gateway, data, "?permanent=true").json()["newlyCreated"]["blobObject"]["blobId"]
    raw = BlobId.parse(blob_id).raw
    owner_of_row = owners(testbed)
    # the owners of rows 0 and 2: the stream cannot have them and must decode from others
    testbed.kill(owner_of_row[params.shard_of_pair(raw, 0)])
    testbed.kill(owner_of_row[params.shard_of_pair(raw, 2)])
    got = gateway.request("GET", f"/v1/blobs/{blob_id}")
    assert got.status == 200
    assert got.body == data
    part = gateway.request("GET", f"/v1/blobs/{blob_id}", headers={"Range": "bytes=10-2000009"})
    assert (part.status, part.body) == (206, data[10:2000010])


def test_an_empty_blob_round_trips(gateway: GatewayProcess) -> None:
    created = _put(gateway, b"")
    assert created.status == 200, created.body
    blob_id = created.json()["newlyCreated"]["blobObject"]["blobId"]
    got = gateway.request("GET", f"/v1/blobs/{blob_id}")
    assert (got.status, got.body, got.headers["content-length"]) == (200, b"", "0")
    ranged = gateway.request("GET", f"/v1/blobs/{blob_id}", headers={"Range": "bytes=0-"})
    assert ranged.status == 416
