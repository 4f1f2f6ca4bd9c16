"""The kubelet stand-in resolves environments and `$(VAR)` references as the kubelet does."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2e.kubelet import envvars

POD = {
    "metadata": {"name": "walrus-0", "namespace": "prod", "uid": "u-1", "labels": {"a": "b"}},
    "spec": {"nodeName": "n1", "serviceAccountName": "walrus"},
}


def no_lookup(_namespace: str, _name: str) -> None:
    return None


def test_expand_replaces_defined_references_and_keeps_the_rest() -> None:
    variables = {"POD_IP": "127.1.2.3", "PORT": "9185"}
    assert envvars.expand("--bind $(POD_IP):$(PORT)", variables) == "--bind 127.1.2.3:9185"
    assert envvars.expand("$(MISSING) stays", variables) == "$(MISSING) stays"
    assert envvars.expand("$$(POD_IP) is escaped", variables) == "$(POD_IP) is escaped"
    assert envvars.expand("cost: 5$ and $x", variables) == "cost: 5$ and $x"
    assert envvars.expand("unterminated $(POD_IP", variables) == "unterminated $(POD_IP"


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_expand_leaves_text_without_dollars_alone(text: str) -> None:
    assert envvars.expand(text, {"A": "b"}) == text


@given(st.text(alphabet="ab()$ ", max_size=30))
def test_expand_without_variables_only_unescapes_double_dollars(text: str) -> None:
    # With nothing defined, the only change is `$$` -> `$`.
    expanded = envvars.expand(text, {})
    assert expanded.count("$") <= text.count("$")
    assert expanded.replace("$", "") == text.replace("$", "")


def test_resolve_builds_env_from_fields_configmaps_and_secrets() -> None:
    configmap = {"data": {"level": "debug", "other": "x"}}
    secret = {"data": {"token": base64.b64encode(b"s3cret").decode()}}
    container = {
        "name": "node",
        "command": ["walrus-node", "--listen", "$(POD_IP):$(PORT)"],
        "args": ["--name", "$(POD_NAME)"],
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "PORT", "value": "9185"},
            {"name": "ADDR", "value": "$(POD_IP):$(PORT)"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['a']"}}},
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
        ],
    }
    env, argv = envvars.resolve(
        POD,
        container,
        {"PATH": "/venv/bin:/usr/bin"},
        lambda _ns, name: configmap if name == "cfg" else None,
        lambda _ns, name: secret if name == "sec" else None,
        "127.9.8.7",
        "127.0.0.1",
    )
    assert argv == ["walrus-node", "--listen", "127.9.8.7:9185", "--name", "walrus-0"]
    # ADDR refers to POD_IP before it is defined: it stays as written, as in Kubernetes.
    assert env["ADDR"] == "$(POD_IP):9185"
    assert env["NS"] == "prod"
    assert env["A"] == "b"
    assert env["CFG_level"] == "debug"
    assert env["LEVEL"] == "debug"
    assert env["TOKEN"] == "s3cret"
    assert env["PATH"] == "/venv/bin:/usr/bin"


def test_missing_configmap_key_is_an_error_naming_it() -> None:
    container = {
        "name": "node",
        "command": ["x"],
        "env": [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}],
    }
    with pytest.raises(envvars.EnvError, match="configMapKeyRef 'cfg' not found"):
        envvars.resolve(POD, container, {}, no_lookup, no_lookup, "127.1.1.1", "127.0.0.1")


def test_container_without_command_is_an_error() -> None:
    with pytest.raises(envvars.EnvError, match="no command"):
        envvars.resolve(POD, {"name": "n"}, {}, no_lookup, no_lookup, "127.1.1.1", "127.0.0.1")
