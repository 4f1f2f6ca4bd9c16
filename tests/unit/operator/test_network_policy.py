"""The NetworkPolicy builder against golden YAML, and the reconciler that keeps it.

`data/policy/<case>.yaml` holds a WalrusNetwork (and the operator's namespace); the
output is the policy as applied. `UPDATE_GOLDEN=1` rewrites the outputs.
"""

from __future__ import annotations

import os
import pathlib
import typing

import pytest
import yaml

from tests.unit.operator import memory_kube
from walrus_operator import epochs, kube, models, networks, outcome
from walrus_operator.builders import network_policy

DATA = pathlib.Path(__file__).parent / "data" / "policy"
CASES = sorted(p.stem for p in DATA.glob("*.input.yaml"))


@pytest.mark.parametrize("case", [c.removesuffix(".input") for c in CASES])
def test_policy_matches_golden_output(case: str) -> None:
    given = yaml.safe_load((DATA / f"{case}.input.yaml").read_text())
    built = network_policy.build_network_policy(
        models.parse_network(given["network"]), given.get("operatorNamespace")
    )
    output = DATA / f"{case}.output.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        output.write_text(yaml.safe_dump(built, sort_keys=False))
    assert built == yaml.safe_load(output.read_text())


def _network(enabled: bool = True) -> dict[str, typing.Any]:
    return {
        "apiVersion": "walrus-k8s.io/v1alpha1",
        "kind": "WalrusNetwork",
        "metadata": {"name": "devnet", "namespace": "walrus", "uid": "u-1"},
        "spec": {"shardCount": 16, "networkPolicy": {"enabled": enabled}},
    }


class _NoEpochs:
    async def run(self, namespace: str, name: str) -> outcome.Outcome:
        return outcome.Outcome({})


@pytest.mark.asyncio
async def test_reconciler_applies_the_policy_once_per_period_and_deletes_it_when_disabled() -> None:
    api = memory_kube.MemoryKube()
    now = [0.0]
    reconciler = networks.NetworkReconciler(
        typing.cast(epochs.EpochController, _NoEpochs()),
        kube=api,
        policy_resync_seconds=60,
        monotonic=lambda: now[0],
    )
    await reconciler.reconcile(_network())
    assert await api.get(kube.Kind.NETWORK_POLICY, "devnet-nodes", "walrus") is not None
    writes = len(api.writes)
    now[0] = 30.0
    await reconciler.reconcile(_network())
    assert len(api.writes) == writes  # unchanged and recent: not applied again
    now[0] = 61.0
    await reconciler.reconcile(_network())
    assert len(api.writes) == writes + 1  # drift is undone once per period
    await reconciler.reconcile(_network(enabled=False))
    assert await api.get(kube.Kind.NETWORK_POLICY, "devnet-nodes", "walrus") is None
