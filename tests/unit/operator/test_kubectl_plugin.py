"""`kubectl walrus`: the views it prints, from objects as the API returns them. (The
commands against a real API server are in e2e/test_kubectl_walrus.py.)"""

from __future__ import annotations

import typing

from walrus_operator import kubectl_plugin

Json = dict[str, typing.Any]


def _network(phase: str = "Stable") -> Json:
    return {
        "metadata": {"name": "devnet"},
        "spec": {"shardCount": 16},
        "status": {
            "currentEpoch": 4,
            "phase": phase,
            "committee": {
                "members": [
                    {"name": "a", "shardCount": 6},
                    {"name": "b", "shardCount": 5},
                    {"name": "c", "shardCount": 5},
                ]
            },
            "syncProgress": {"shardsSynced": 3, "shardsTotal": 5},
        },
    }


def _node(name: str, ready: bool, shards: int = 5) -> Json:
    return {
        "metadata": {"name": name},
        "status": {
            "phase": "Running" if ready else "Degraded",
            "epoch": 4,
            "shardsOwned": shards,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "message": "" if ready else "pod not ready",
                }
            ],
        },
    }


def test_status_counts_shards_of_members_that_are_not_ready_against_f() -> None:
    nodes = [_node("a", True, 6), _node("b", False), _node("c", True)]
    assert kubectl_plugin.shards_offline(_network(), nodes) == 5
    text = kubectl_plugin.status_table(_network(), nodes)
    assert "epoch 4 Stable, 16 shards (f = 5), 5 offline: DEGRADED" in text
    assert "pod not ready" in text
    # A member without a WalrusNode at all counts as offline too: 11 > f.
    text = kubectl_plugin.status_table(_network(), [_node("a", True, 6)])
    assert "10 offline: UNAVAILABLE" in text


def test_status_shows_shard_sync_during_an_epoch_change() -> None:
    text = kubectl_plugin.status_table(_network("EpochChange"), [])
    assert "shard sync: 3/5 shards" in text


def test_rollout_counts_nodes_on_their_update_revision_and_ready() -> None:
    def sts(current: str, update: str, ready: int) -> Json:
        return {
            "metadata": {"generation": 2},
            "status": {
                "observedGeneration": 2,
                "currentRevision": current,
                "updateRevision": update,
                "readyReplicas": ready,
            },
        }

    nodes = [_node("a", True), _node("b", True), _node("c", True)]
    sets = {"a": sts("r2", "r2", 1), "b": sts("r1", "r2", 1), "c": sts("r2", "r2", 0)}
    text = kubectl_plugin.rollout_table(nodes, sets)
    assert text.startswith("rollout: 1/3 nodes updated")


def test_kubectl_options_go_before_or_after_the_command() -> None:
    parser = kubectl_plugin._parser()
    after = parser.parse_args(["status", "devnet", "-n", "walrus", "--context", "c"])
    before = parser.parse_args(["-n", "walrus", "--context", "c", "status", "devnet"])
    for args in (after, before):
        assert (args.namespace, args.context, args.network) == ("walrus", "c", "devnet")
    assert not hasattr(parser.parse_args(["status"]), "namespace")
