"""The rollout step against an in-memory API: which pod it evicts, the network's disruption
budget it writes, and what it reports (status, condition, Events)."""

from __future__ import annotations

import dataclasses
import datetime
import typing

import pytest

from tests.unit.operator import memory_kube, records
from walrus_node.protocol import committee_file
from walrus_operator import epoch_plan, kube, models, naming, reports, rollouts

NAMESPACE = "walrus"
NAMES = [f"pool-{i}" for i in range(7)]
NOW = records.START + datetime.timedelta(hours=1)
OLD, NEW = "pool-abc", "pool-def"


def _network() -> models.WalrusNetwork:
    return models.parse_network(
        {
            "metadata": {"name": "devnet", "namespace": NAMESPACE, "uid": "net-1"},
            "spec": {"shardCount": 16},
        }
    )


def _seed(api: memory_kube.MemoryKube, *, pod_revisions: dict[str, str]) -> None:
    labels = {naming.LABEL_NETWORK: "devnet", "app.kubernetes.io/name": "walrus-node"}
    for name in NAMES:
        api.put(
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
                "status": {"observedGeneration": 1, "updateRevision": NEW},
            }
        )
        api.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{name}-0",
                    "namespace": NAMESPACE,
                    "labels": {**labels, "controller-revision-hash": pod_revisions[name]},
                    "creationTimestamp": "2026-01-01T00:00:00Z",
                },
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }
        )


def _views(serving: typing.Callable[[str], bool] = lambda _: True) -> list[epoch_plan.NodeView]:
    return [
        epoch_plan.NodeView(
            name=name,
            staking=models.Staking(stake=1000),
            public_key=records.key_text(name),
            endpoint=f"{name}:9185",
            excluded=False,
            deleting=False,
            report=reports.NodeReport(reachable=True, serving=serving(name), epoch=1),
        )
        for name in NAMES
    ]


RECORD = records.genesis(16, dict.fromkeys(NAMES, 1000))


@pytest.mark.asyncio
async def test_one_outdated_pod_is_evicted_and_the_budget_counts_shards() -> None:
    api = memory_kube.MemoryKube()
    _seed(api, pod_revisions=dict.fromkeys(NAMES, OLD))
    step = await rollouts.Rollouts(api).step(_network(), RECORD, _views(), NOW, {})
    assert [w for w in api.writes if w[0] == "evict"] == [("evict", kube.Kind.POD, "pool-0-0")]
    budget = api.find(kube.Kind.PDB, "devnet.shards", NAMESPACE)
    # 16 shards over 7 equal stakes: 3,3,2,2,2,2,2; f = 5 allows one pod down.
    assert budget["spec"]["minAvailable"] == 6
    assert budget["spec"]["selector"]["matchLabels"][naming.LABEL_NETWORK] == "devnet"
    assert step.status["rollout"]["progress"] == "0/7"
    assert (step.updated, step.total) == (0, 7)  # what the progress metric is set from
    assert step.status["rollout"]["phase"] == "RollingOut"
    assert [e.reason for e in step.events] == ["NodeRestarting"]
    assert step.condition.status is False


@pytest.mark.asyncio
async def test_epoch_change_allows_no_disruption_and_no_restart() -> None:
    api = memory_kube.MemoryKube()
    _seed(api, pod_revisions=dict.fromkeys(NAMES, OLD))
    changing = records.genesis(16, dict.fromkeys(NAMES, 1000))
    state = changing.state.select_next(
        [records.candidate(n, 1000) for n in NAMES] + [records.candidate("pool-7", 9000)]
    ).start_epoch_change()
    changing = dataclasses.replace(changing, committees=committee_file.ActiveCommittees(state))
    step = await rollouts.Rollouts(api).step(_network(), changing, _views(), NOW, {})
    assert api.find(kube.Kind.PDB, "devnet.shards", NAMESPACE)["spec"]["minAvailable"] == 7
    assert not [w for w in api.writes if w[0] == "evict"]
    assert "epoch change" in step.status["rollout"]["message"]


@pytest.mark.asyncio
async def test_a_node_that_does_not_come_back_halts_and_is_named() -> None:
    api = memory_kube.MemoryKube()
    _seed(api, pod_revisions={**dict.fromkeys(NAMES, OLD), "pool-0": NEW})
    api.find(kube.Kind.POD, "pool-0-0", NAMESPACE)["status"] = {"conditions": []}
    roller = rollouts.Rollouts(api, timeout=datetime.timedelta(minutes=5))
    step = await roller.step(_network(), RECORD, _views(lambda n: n != "pool-0"), NOW, {})
    assert not [w for w in api.writes if w[0] == "evict"]
    assert step.status["rollout"] == {
        "progress": "0/7",
        "phase": "Halted",
        "haltedBy": "pool-0",
        "shardsOffline": 3,
        "disruptionsAllowed": 1,
        "message": step.status["rollout"]["message"],
        "restarts": [],
    }
    assert step.condition.reason == "RolloutHalted" and "pool-0" in step.condition.message
    halted = [e for e in step.events if e.reason == "RolloutHalted"]
    assert halted and halted[0].warning and "pool-0" in halted[0].message
    # Announced once: the next pass sees it in the status already.
    again = await roller.step(_network(), RECORD, _views(lambda n: n != "pool-0"), NOW, step.status)
    assert not [e for e in again.events if e.reason == "RolloutHalted"]


@pytest.mark.asyncio
async def test_a_budget_that_refuses_the_eviction_means_waiting() -> None:
    api = memory_kube.MemoryKube()
    api.refuse_evictions = True
    _seed(api, pod_revisions=dict.fromkeys(NAMES, OLD))
    step = await rollouts.Rollouts(api).step(_network(), RECORD, _views(), NOW, {})
    assert "disruption budget" in step.status["rollout"]["message"]
    assert not step.events


@pytest.mark.asyncio
async def test_up_to_date_network_is_idle() -> None:
    api = memory_kube.MemoryKube()
    _seed(api, pod_revisions=dict.fromkeys(NAMES, NEW))
    step = await rollouts.Rollouts(api).step(_network(), RECORD, _views(), NOW, {})
    assert step.status["rollout"]["phase"] == "Idle"
    assert step.status["rollout"]["progress"] == "7/7"
    assert step.condition.status is True


@pytest.mark.asyncio
async def test_the_deadline_runs_from_the_eviction_not_the_latest_pod() -> None:
    """A pod that fails outright is re-created by its StatefulSet again and again; the
    restart's deadline still runs from when the roller evicted it."""
    api = memory_kube.MemoryKube()
    _seed(api, pod_revisions=dict.fromkeys(NAMES, OLD))
    roller = rollouts.Rollouts(api, timeout=datetime.timedelta(minutes=5))
    first = await roller.step(_network(), RECORD, _views(), NOW, {})
    assert first.status["rollout"]["restarts"] == [
        {"node": "pool-0", "since": "2026-01-01T01:00:00Z"}
    ]
    # The replacement: at the new revision, created just now, never Ready.
    pod = api.find(kube.Kind.POD, "pool-0-0", NAMESPACE)
    pod["metadata"].pop("deletionTimestamp")
    pod["metadata"]["labels"]["controller-revision-hash"] = NEW
    pod["metadata"]["creationTimestamp"] = "2026-01-01T01:09:59Z"
    pod["status"] = {"conditions": []}
    later = NOW + datetime.timedelta(minutes=10)
    views = _views(lambda n: n != "pool-0")
    step = await roller.step(_network(), RECORD, views, later, first.status)
    assert step.status["rollout"]["haltedBy"] == "pool-0"
    # Once it serves, the entry goes.
    pod["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    done = await roller.step(_network(), RECORD, _views(), later, step.status)
    assert done.status["rollout"]["restarts"] == [
        {"node": "pool-1", "since": "2026-01-01T01:10:00Z"}
    ]


@pytest.mark.asyncio
async def test_the_next_pod_waits_until_the_last_one_is_ready_for_the_settle_time() -> None:
    api = memory_kube.MemoryKube()
    _seed(api, pod_revisions={**dict.fromkeys(NAMES, OLD), "pool-0": NEW})
    ready = api.find(kube.Kind.POD, "pool-0-0", NAMESPACE)["status"]["conditions"][0]
    roller = rollouts.Rollouts(api, settle=datetime.timedelta(seconds=30))
    ready["lastTransitionTime"] = (NOW - datetime.timedelta(seconds=10)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    step = await roller.step(_network(), RECORD, _views(), NOW, {})
    assert not [w for w in api.writes if w[0] == "evict"]
    assert step.status["rollout"]["progress"] == "1/7"
    ready["lastTransitionTime"] = (NOW - datetime.timedelta(seconds=30)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    await roller.step(_network(), RECORD, _views(), NOW, {})
    assert [w for w in api.writes if w[0] == "evict"] == [("evict", kube.Kind.POD, "pool-1-0")]
