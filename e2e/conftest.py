"""Fixtures of the e2e tier: one local control plane (with the kubelet stand-in) per test
session, and a Kubernetes API client per test. The scenario suite asks for `kube`
instead, which is that control plane or, with WALRUS_E2E_BACKEND=kind, an existing
cluster (`e2e.backend`).

Every test under e2e/ is marked `e2e`. The cluster lives in a fixed run directory per
checkout ($WALRUS_E2E_DIR, default <tmp>/walrus-e2e/pytest-<hash of the checkout's
path>), so the next session stops and wipes whatever a crashed one left there. When a
test fails, the report carries the tail of the stand-in's log and where the logs are.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from e2e import backend, conditions, kubeapi
from e2e.controlplane import cluster as controlplane


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def run_dir() -> Path:
    # One directory per checkout: two checkouts on one machine run side by side.
    checkout = hashlib.sha256(str(controlplane.REPO_ROOT).encode()).hexdigest()[:8]
    default = Path(tempfile.gettempdir()) / "walrus-e2e" / f"pytest-{checkout}"
    return Path(os.environ.get("WALRUS_E2E_DIR", default))


_running: list[controlplane.Cluster] = []


@pytest.fixture(scope="session")
def cluster() -> Iterator[controlplane.Cluster]:
    """A running control plane and kubelet stand-in; `cluster.kubeconfig` is the admin's."""
    with controlplane.start(run_dir()) as running:
        _running.append(running)
        try:
            yield running
        finally:
            _running.remove(running)


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest) -> backend.Kube:
    """The cluster of the backend chosen by $WALRUS_E2E_BACKEND (`e2e.backend`): the
    local control plane by default, else the existing cluster $KUBECONFIG names."""
    if backend.name() == backend.KIND:
        return backend.ExistingCluster.from_environment()
    local: controlplane.Cluster = request.getfixturevalue("cluster")
    return local


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when == "call" and _running:
        stand_in = [c for c in _running[0].children if c.name == "kubelet"]
        where = _running[0].run_dir
        tail = stand_in[0].log_tail(40) if stand_in else "(not running)"
        report.sections.append(
            ("kubelet stand-in", f"logs: {where}/*.log, {where}/kubelet/logs/\n{tail}")
        )
    return report


@pytest_asyncio.fixture
async def api(cluster: controlplane.Cluster) -> AsyncIterator[kubeapi.Client]:
    async with kubeapi.Client(cluster.kubeconfig) as client:
        yield client


@pytest_asyncio.fixture
async def namespace(api: kubeapi.Client) -> AsyncIterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    await api.create(
        kubeapi.collection("namespaces"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )

    async def default_account() -> kubeapi.JSON | None:
        # Pods are refused until the controller manager made it.
        return await api.get_or_none(kubeapi.item("serviceaccounts", "default", name))

    await conditions.eventually(default_account, f"service account {name}/default")
    yield name
    await api.delete(kubeapi.item("namespaces", name))
