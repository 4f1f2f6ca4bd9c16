"""Node settings: YAML plus WALRUS_* overrides, with errors that name the key."""

from __future__ import annotations

import pathlib
import re

import pytest

from walrus_node import config

REQUIRED = {"name": "n0", "data_dir": "/d", "key_file": "/k", "committee_file": "/c"}


def test_defaults_and_types_are_applied() -> None:
    cfg = config.from_mapping(REQUIRED, environ={})
    assert cfg.grpc_port == 9185
    assert cfg.data_dir == pathlib.Path("/d")
    assert cfg.admin_public_keys == ()


def test_environment_overrides_the_file() -> None:
    env = {
        "WALRUS_GRPC_PORT": "19185",
        "WALRUS_ADMIN_PUBLIC_KEYS": "a,b",
        "WALRUS_TUNE_ALLOCATOR": "no",
    }
    cfg = config.from_mapping({**REQUIRED, "grpc_port": 1}, environ=env)
    assert cfg.grpc_port == 19185
    assert cfg.admin_public_keys == ("a", "b")
    assert cfg.tune_allocator is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**REQUIRED, "grcp_port": 1}, "unknown key(s): grcp_port"),
        ({"name": "n0"}, "missing required key(s): data_dir"),
        ({**REQUIRED, "grpc_port": "many"}, "grpc_port"),
        ({**REQUIRED, "grpc_port": 70000}, "grpc_port: 70000 is not a port number"),
        ({**REQUIRED, "log_format": "xml"}, "log_format"),
        ({**REQUIRED, "max_concurrent_blob_syncs": 0}, "max_concurrent_blob_syncs"),
        ({**REQUIRED, "tls_cert_file": "/t.crt"}, "tls_cert_file, tls_key_file and tls_ca_file"),
        ({**REQUIRED, "tls_ca_file": "/ca.crt"}, "set all or none"),
        ({**REQUIRED, "read_buffer_bytes": 1000}, "read_buffer_bytes: must be between"),
        ({**REQUIRED, "read_buffer_bytes": 8 << 20}, "read_buffer_bytes: must be between"),
        ({**REQUIRED, "gc_interval_seconds": 0}, "gc_interval_seconds: must be positive"),
        ({**REQUIRED, "stream_idle_seconds": 0}, "stream_idle_seconds: must be positive"),
        (
            {**REQUIRED, "pending_deletions_per_peer": -1},
            "pending_deletions_per_peer: must not be negative",
        ),
        (
            {**REQUIRED, "pending_vouches_per_peer": -1},
            "pending_vouches_per_peer: must not be negative",
        ),
        ({**REQUIRED, "max_recovery_targets": 0}, "max_recovery_targets: must be at least 1"),
        ({**REQUIRED, "recovery_batch_bytes": 0}, "recovery_batch_bytes: must be at least 1"),
        (
            {**REQUIRED, "recovery_peer_timeout_seconds": 0},
            "recovery_peer_timeout_seconds: must be positive",
        ),
        (
            {**REQUIRED, "shard_sync_give_up_seconds": -1},
            "shard_sync_give_up_seconds: must not be negative",
        ),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.from_mapping(data, environ={})


def test_unreadable_or_malformed_files_are_config_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load(bad, environ={})


def test_tls_files_come_as_a_set_and_env_can_set_them() -> None:
    env = {
        "WALRUS_TLS_CERT_FILE": "/tls/tls.crt",
        "WALRUS_TLS_KEY_FILE": "/tls/tls.key",
        "WALRUS_TLS_CA_FILE": "/tls/ca.crt",
    }
    cfg = config.from_mapping(REQUIRED, environ=env)
    assert cfg.tls_cert_file == pathlib.Path("/tls/tls.crt")
    assert cfg.tls_ca_file == pathlib.Path("/tls/ca.crt")
    assert config.from_mapping(REQUIRED, environ={}).tls_cert_file is None
