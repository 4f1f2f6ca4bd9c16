"""Day-two operations on the local control plane: a pool's image changed on seven nodes
while a client writes and reads, a new version that does not start, evictions held to the
network's disruption budget in shards, two operators at once (one leads, the history does
not fork), and a network that cannot be deleted while nodes reference it (last: the
deletion cannot be taken back).

The operator runs on the host as in `e2e.test_scenarios` (pod-IP endpoints), with a short
rollout deadline so that a failing version halts within the test's time. The tests run
in order on one network of seven pool members (16 shards, f = 5). Local backend only: the
images `walrus-node:0.2.0` and a broken one exist as names for the kubelet stand-in
(which runs any `walrus-node` image from this checkout and fails any other), not on kind.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from e2e import backend, traffic
from e2e.controlplane import cluster as controlplane
from e2e.test_scenarios import (
    GROUP,
    SAMPLES,
    Session,
    _operator_on_the_host,
    _save_cluster_state,
    run,
    wait_for,
)
from walrus_node.client.api import WalrusClient

F = 5  # 16 shards
ROLLOUT_TIMEOUT = 40
DEADLINE, UNREACHABLE = 60, 45  # seconds: an epoch change's deadline; a member's silence
GOOD, BETTER, BROKEN = "walrus-node:0.1.0", "walrus-node:0.2.0", "registry.invalid/broken:1"


@pytest.fixture(scope="module")
def seven(kube: backend.Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """The operator running and a network of seven pool members, settled at epoch 1."""
    if not isinstance(kube, controlplane.Cluster):
        pytest.skip("the images these tests switch between exist only for the stand-in")
    work = tmp_path_factory.mktemp("rollout")
    namespace = f"rollout-{uuid.uuid4().hex[:6]}"
    settings = {
        "WALRUS_OPERATOR_ROLLOUT_TIMEOUT_SECONDS": str(ROLLOUT_TIMEOUT),
        "WALRUS_OPERATOR_EPOCH_CHANGE_DEADLINE_SECONDS": str(DEADLINE),
        "WALRUS_OPERATOR_MEMBER_UNREACHABLE_SECONDS": str(UNREACHABLE),
    }
    with contextlib.ExitStack() as stack:
        stack.enter_context(_operator_on_the_host(kube, namespace, work, settings))
        kube.kubectl("create", "namespace", namespace)
        stack.callback(kube.kubectl, "delete", "namespace", namespace, "--wait=false", check=False)
        stack.callback(_save_cluster_state, kube, namespace, work)
        session = Session(kube, namespace, work)
        session.kubectl("apply", "-f", str(SAMPLES / "walrusnetwork.yaml"))
        session.kubectl("apply", "-f", str(SAMPLES / "walrusnodepool.yaml"))
        session.kubectl("scale", f"walrusnodepools.{GROUP}/pool", "--replicas=7")
        wait_for(lambda: session.ready_nodes(7), "7 WalrusNodes Ready")
        wait_for(lambda: session.settled(1, 7), "the first committee (epoch 1) of 7")
        yield session


def _set_image(session: Session, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"image": image}}}}
    session.kubectl(
        "patch", f"walrusnodepools.{GROUP}/pool", "--type=merge", "-p", json.dumps(patch)
    )


def _rollout(session: Session) -> dict[str, Any]:
    return dict((session.network().get("status") or {}).get("rollout") or {})


def _rolled_out(session: Session, image: str) -> bool:
    pods = traffic.pods(session)
    members = [f"pool-{i}-0" for i in range(7)]
    rollout = _rollout(session)
    return (
        all(
            m in pods and traffic.image(pods[m]) == image and traffic.ready(pods[m])
            for m in members
        )
        and rollout.get("phase") == "Idle"
        and rollout.get("progress") == "7/7"
    )


def test_1_image_change_rolls_one_pod_at_a_time_while_a_client_works(seven: Session) -> None:
    before = {name: p["metadata"]["uid"] for name, p in traffic.pods(seven).items()}
    with traffic.Sampler(seven) as sampler, traffic.Workload(seven) as workload:
        while workload.writes < 2:  # the client works before the change
            assert not workload.failures, workload.failures
            time.sleep(0.5)
        started = time.monotonic()
        _set_image(seven, BETTER)
        wait_for(lambda: _rolled_out(seven, BETTER), "all 7 pods on the new image", 600)
        took = time.monotonic() - started
        writes_during = workload.writes
    print(
        f"rollout of 7 nodes: {took:.0f} s; {writes_during} writes, {workload.reads} reads; "
        f"{sampler.samples} samples, at most {sampler.max_down} pod(s) down, "
        f"{sampler.max_offline} shards offline"
    )
    assert workload.failures == []
    assert workload.writes > 2 and workload.reads > 0
    assert sampler.max_offline <= F
    assert sampler.max_down <= 1  # one pod at a time
    after = traffic.pods(seven)
    assert all(after[name]["metadata"]["uid"] != uid for name, uid in before.items())
    table = seven.kubectl("get", f"walrusnetworks.{GROUP}", "devnet")
    assert "ROLLOUT" in table and "7/7" in table
    reasons = [
        e["reason"]
        for e in json.loads(seven.kubectl("get", "events", "-o", "json"))["items"]
        if e["involvedObject"]["name"] == "devnet"
    ]
    assert reasons.count("NodeRestarting") >= 7


def test_2_a_version_that_does_not_start_halts_the_rollout(seven: Session) -> None:
    _set_image(seven, BROKEN)
    rollout = wait_for(
        lambda: (r := _rollout(seven)).get("phase") == "Halted" and r,
        "the rollout halted",
        ROLLOUT_TIMEOUT + 300,
    )
    assert rollout["haltedBy"] == "pool-0"
    events = [
        e
        for e in json.loads(seven.kubectl("get", "events", "-o", "json"))["items"]
        if e["reason"] == "RolloutHalted"
    ]
    assert events and "pool-0" in events[0]["message"] and events[0]["type"] == "Warning"
    condition = next(c for c in seven.network()["status"]["conditions"] if c["type"] == "Rollout")
    assert condition["reason"] == "RolloutHalted" and "pool-0" in condition["message"]
    # Only pool-0 tried the new version; the others still serve the old one.
    pods = traffic.pods(seven)
    for i in range(1, 7):
        assert traffic.image(pods[f"pool-{i}-0"]) == BETTER and traffic.ready(pods[f"pool-{i}-0"])

    async def still_serving(client: WalrusClient) -> None:
        data = os.urandom(50_000)
        blob_id = (await client.store(data, epochs=5)).blob_id
        assert (await client.read(blob_id)).data == data

    run(seven, still_serving)
    # Fixing the image resumes: pool-0, down, goes first.
    _set_image(seven, BETTER)
    wait_for(lambda: _rolled_out(seven, BETTER), "all 7 pods back on the good image", 600)


def _evict(session: Session, pod: str) -> tuple[bool, str]:
    body = json.dumps(
        {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": session.namespace},
        }
    )
    path = f"/api/v1/namespaces/{session.namespace}/pods/{pod}/eviction"
    result = session.cluster.kubectl("create", "--raw", path, "-f", "-", check=False, input=body)
    return result.returncode == 0, result.stderr


def test_3_evictions_beyond_f_shards_are_refused(seven: Session) -> None:
    budget = wait_for(
        lambda: (
            (b := seven.get("poddisruptionbudgets", "devnet.shards"))["status"].get(
                "disruptionsAllowed"
            )
            == 1
            and b
        ),
        "the network's budget allowing one pod down",
    )
    shards = sorted(traffic.shards(seven).values(), reverse=True)
    assert sum(shards[:2]) > F  # two nodes at once could exceed f...
    assert budget["spec"]["minAvailable"] == 6  # ...so one of seven may be down
    # Two drains at once, as two hosts would be drained: one eviction goes, one is refused.
    results: dict[str, tuple[bool, str]] = {}
    threads = [
        threading.Thread(target=lambda p=p: results.__setitem__(p, _evict(seven, p)))
        for p in ("pool-1-0", "pool-2-0")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    allowed = [p for p, (ok, _) in results.items() if ok]
    refused = [message for ok, message in results.values() if not ok]
    assert len(allowed) == 1, results
    assert refused and "disruption budget" in refused[0]
    # The evicted pod comes back; the budget allows one again.
    wait_for(lambda: seven.ready_nodes(7), "7 WalrusNodes Ready again")
    wait_for(
        lambda: (
            seven.get("poddisruptionbudgets", "devnet.shards")["status"].get("disruptionsAllowed")
            == 1
        ),
        "the budget allowing one again",
    )


def test_4_two_operators_at_once_do_not_fork_the_epoch_history(
    seven: Session, tmp_path: pathlib.Path
) -> None:
    assert isinstance(seven.cluster, controlplane.Cluster)
    lease = seven.get("leases", "walrus-operator")
    holder = lease["spec"]["holderIdentity"]
    epoch = int(seven.network()["status"]["currentEpoch"])
    # The second operator logs to its own file (appended to across runs: read what it adds).
    log_file = seven.cluster.run_dir / "standby.log"
    start = log_file.stat().st_size if log_file.exists() else 0
    with _operator_on_the_host(seven.cluster, seven.namespace, tmp_path, name="standby"):
        for target in (epoch + 1, epoch + 2):
            seven.advance_epoch()

            def reached(target: int = target) -> Any:
                return seven.settled(target, 7)

            wait_for(reached, f"epoch {target}")
        owned = wait_for(lambda: seven.shards_owned(epoch + 2), "nodes at the last epoch")
        assert sum(owned.values()) == 16
        # One leader throughout: the second operator stood by.
        assert seven.get("leases", "walrus-operator")["spec"]["holderIdentity"] == holder
    copy = seven.get("configmaps", "devnet.epoch-state")
    assert int(copy["data"]["epoch"]) == epoch + 2
    assert json.loads(copy["data"]["epochState"]) == json.loads(
        seven.network()["status"]["epochState"]
    )
    log = log_file.read_bytes()[start:].decode(errors="replace")
    assert "standing by" in log and "leading as" not in log


def _node(session: Session, name: str, stake: int) -> None:
    node = yaml.safe_load((SAMPLES / "walrusnode.yaml").read_text())
    node["metadata"]["name"] = name
    node["spec"]["staking"]["stake"] = stake
    node["spec"]["resources"] = {"requests": {"cpu": "100m", "memory": "256Mi"}}
    session.kubectl("apply", "-f", "-", input=yaml.safe_dump(node))


def test_5_an_epoch_change_whose_gaining_nodes_are_lost_completes_after_its_deadline(
    seven: Session,
) -> None:
    async def store(client: WalrusClient) -> tuple[Any, bytes]:
        data = os.urandom(200_000)
        return (await client.store(data, epochs=10)).blob_id, data

    blob_id, data = run(seven, store)
    # Two more nodes join.
    for name in ("extra-a", "extra-b"):
        _node(seven, name, 5000)
    wait_for(lambda: seven.ready_nodes(9), "9 WalrusNodes Ready")
    epoch = int(seven.network()["status"]["currentEpoch"])
    seven.advance_epoch()
    wait_for(lambda: seven.settled(epoch + 1, 9), f"epoch {epoch + 1} with nine members")
    # They are lost (paused, so the operator leaves them down), with more stake: as current
    # members briefly away they stay candidates, and gain 5 shards each (10 > f).
    for name in ("extra-a", "extra-b"):
        patch = {"spec": {"paused": True, "staking": {"stake": 40000}}}
        seven.kubectl(
            "patch", f"walrusnodes.{GROUP}/{name}", "--type=merge", "-p", json.dumps(patch)
        )
        seven.kubectl("scale", "statefulset", name, "--replicas=0")
    wait_for(
        lambda: all(
            (seven.nodes()[n].get("status") or {}).get("unreachableSince")
            for n in ("extra-a", "extra-b")
        ),
        "both marked unreachable",
    )
    seven.advance_epoch()

    def stuck() -> Any:
        status = seven.network().get("status") or {}
        return (
            status.get("currentEpoch") == epoch + 2
            and status.get("phase") == "EpochChange"
            and status
        )

    status = wait_for(stuck, f"epoch {epoch + 2} changing", 60)
    # The record (persisted first), not the committee summary written later in the pass.
    committee = json.loads(status["epochState"])["committees"]
    members = {m["name"]: len(m["shards"]) for m in committee["members"]}
    assert members["extra-a"] + members["extra-b"] > F
    # Their WalrusNodes are deleted for good.
    for name in ("extra-a", "extra-b"):
        seven.kubectl(
            "annotate", f"walrusnodes.{GROUP}/{name}", f"{GROUP}/force-delete=true", "--overwrite"
        )
        seven.kubectl("delete", f"walrusnodes.{GROUP}", name, "--wait=false")
    # Past the deadline: dropped, re-planned without them, and the rest recover their shards.
    wait_for(lambda: seven.settled(epoch + 3, 7), f"epoch {epoch + 3} without them", 600)
    events = [
        e
        for e in json.loads(seven.kubectl("get", "events", "-o", "json"))["items"]
        if e["reason"] == "EpochChangeDeadline"
    ]
    assert events and "extra-a" in events[0]["message"] and events[0]["type"] == "Warning"

    async def read(client: WalrusClient) -> bytes:
        return bytes((await client.read(blob_id)).data)

    assert run(seven, read) == data


def test_6_a_network_with_nodes_cannot_be_deleted(seven: Session) -> None:
    seven.kubectl("delete", f"walrusnetworks.{GROUP}", "devnet", "--wait=false")
    blocked = wait_for(
        lambda: [
            e
            for e in json.loads(seven.kubectl("get", "events", "-o", "json"))["items"]
            if e["involvedObject"]["name"] == "devnet" and e["reason"] == "DeletionBlocked"
        ],
        "the deletion of devnet being blocked",
    )
    assert "WalrusNodes still reference" in blocked[0]["message"]
    network = seven.network()
    assert network["metadata"].get("deletionTimestamp")
    assert network["status"]["epochState"]

    async def still_serving(client: WalrusClient) -> None:
        data = os.urandom(10_000)
        blob_id = (await client.store(data, epochs=2)).blob_id
        assert (await client.read(blob_id)).data == data

    run(seven, still_serving)
