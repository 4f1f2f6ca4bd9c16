"""The storage node's settings: parsed once at start-up from YAML plus environment overrides.

Who calls it: ``walrus-node run`` (and the testbed, which writes these files). The parsed
:class:`NodeConfig` is passed explicitly to whatever needs a setting; nothing reads the
environment or files later. The file format is documented in docs/node-runtime.md.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import types
import typing
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["ConfigError", "NodeConfig", "load"]

ENV_PREFIX = "WALRUS_"


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    name: str
    """Shown in logs, metrics and node info."""
    data_dir: pathlib.Path
    """The store's directory; must survive restarts (a PVC in Kubernetes)."""
    key_file: pathlib.Path
    """Ed25519 identity (PKCS#8 PEM). Created with ``walrus-node keygen``."""
    committee_file: pathlib.Path
    """Current committee (JSON or YAML). Re-read when it changes; absent means standby."""
    listen_host: str = "0.0.0.0"
    """Address both servers bind; pods set it to their pod IP."""
    grpc_port: int = 9185
    """gRPC port; 0 picks a free one (reported in ``runtime_file``)."""
    metrics_port: int = 9184
    """Prometheus port; 0 picks a free one, -1 disables the endpoint."""
    admin_public_keys: tuple[str, ...] = ()
    """Base64 Ed25519 keys allowed to call the Admin service."""
    shutdown_grace_seconds: float = 30.0
    """How long SIGTERM waits for in-flight RPCs; keep below the pod's grace period."""
    runtime_file: pathlib.Path | None = None
    """Where to write the bound ports once serving (JSON); for tools that start nodes."""
    max_concurrent_blob_syncs: int = 8
    """Blobs recovered in parallel after certificates for blobs this node lacks."""
    blob_sync_retry_seconds: float = 2.0
    """Back-off before retrying a blob whose recovery failed (doubles, up to 60 s)."""
    shard_sync_concurrency: int = 4
    """Gained shards received in parallel at an epoch change from their previous owners,
    and, apart from those, recovery passes run in parallel (each pass rebuilds a blob for
    every shard being recovered at once)."""
    shard_sync_give_up_seconds: float = 120.0
    """Longest the cooperative path of shard sync keeps asking a shard's previous owner
    that makes no progress (unreachable, failing, sending empty batches, or not at the
    new epoch yet) before the shard is rebuilt by recovery instead; a source found
    unreachable is given up on for every shard it held at once."""
    recovery_batch_bytes: int = 64 << 20
    """Recovery symbols one round of recovery asks all peers together for, at most: the
    slivers of one blob that this node lacks (on every shard being rebuilt) are asked of
    each peer in one GetRecoverySymbolsBatch call, split into groups whose targets x
    n_shards x symbol size stay within this (a group holds at least one sliver). At 1000
    shards a 32 MiB blob's symbols are ~150 bytes: one call covers hundreds of slivers."""
    recovery_peer_timeout_seconds: float = 60.0
    """Longest one peer call of recovery may take (metadata, recovery symbols, a proof of
    invalidity): a peer slower than this counts as not answering. Recovery does not wait
    for it once the other peers gave enough symbols; a peer that holds many shards cuts
    one symbol per target from each of them, hence the generous default."""
    max_recovery_targets: int = 1024
    """Slivers one GetRecoverySymbolsBatch call may ask symbols for; more is refused with
    RESOURCE_EXHAUSTED, naming this limit. The answer holds one symbol per target per
    sliver this node stores of the blob, counted in the memory budget."""
    shard_sync_batch_slivers: int = 64
    """Slivers asked for per shard-sync request (the cursor is saved after each batch)."""
    shard_sync_memo_blobs: int = 256
    """Blobs whose verified metadata (up to 64 kB each) and certificate shard sync keeps
    within an epoch, so the same bytes received on every gained shard are checked once;
    0 turns the memo off (every sliver's metadata and certificate verified afresh)."""
    certificate_poll_seconds: float = 5.0
    """How often peers are asked for certificates (and deletions) this node has not seen."""
    pending_deletions: int = 10_000
    """Deletions listed by peers for blobs this node does not know yet (their certificates
    still to come), or that a known blob has no room to remember (it already remembers
    ``ownership.MAX_EARLY_DELETIONS`` of owners without a registration on it; the owner's
    certificate still to come), kept in memory (about 200 bytes each) and applied once
    they can be; only deletions whose owner signature checked enter, and more are dropped (the
    node then keeps such a registration until it expires). The table is in memory; the
    deletion cursor persisted for a peer stays before the oldest deletion it relayed that
    still waits, so a restarted node lists those again.
    When full, a peer holding fewer than its fair share takes the place of the oldest
    deletion of the peer holding the most (walrus_node.service.pending_deletions)."""
    pending_deletions_per_peer: int = 1_000
    """Of ``pending_deletions``, the most one relaying peer may hold. Anyone can sign
    deletions of made-up blobs with a key of their own, so a lying committee member could
    otherwise fill the table and have genuine early deletions relayed by others dropped;
    an honest peer lists such deletions only for blobs certified meanwhile."""
    pending_vouches: int = 10_000
    """Certificates of past epochs this node never knew (it cannot check them) that peers
    listed, waiting until members holding more than ``f`` shards have listed each; kept in
    memory (one certificate each: ~70 bytes a signature, ~0.5 kB at 7 members and ~70 kB
    at 1000), dropped once their registration ended.
    When full, a member charged fewer than its fair share takes the place of the oldest
    certificate of the member charged the most (walrus_node.service.certificate_sync)."""
    pending_vouches_per_peer: int = 10_000
    """Of ``pending_vouches``, the most first listed by one member. A lying member can
    list made-up certificates of unknown epochs as easily as an honest one lists real
    ones; what keeps it from filling the table for good is the fair share (a member
    charged less takes the place of the oldest certificate of the member charged the
    most), which holds whatever this bound. The default leaves a member the whole table:
    a node joining a network with a long history is listed thousands of certificates it
    cannot check by every member at once, and a smaller share would drop those of a
    member listing faster than the others."""
    committee_poll_seconds: float = 1.0
    """How often the committee file is checked for changes."""
    uncertified_ttl_seconds: float = 900.0
    """Data of blobs never certified is deleted after this long (seconds). Anyone may
    upload such data; an honest client certifies within seconds of storing. Also the
    longest a ``StoreAndCertify`` call waits for its certificate after its upload."""
    stream_idle_seconds: float = 60.0
    """Longest wait (seconds) for the next message of a client's upload stream
    (StoreSlivers, StoreBlob, and StoreAndCertify until ``stored``), and for the caller to
    take each message of a stream the node sends (GetSliver, recovery symbols, listings,
    SyncShard, StoreAndCertify's replies); a stream silent for longer ends with
    FAILED_PRECONDITION and gives back its call and what it reserved in the memory
    budget. Checked per message: an upload or a read that keeps moving, however slowly,
    is not cut (the wait for a certificate after ``stored`` is bounded by
    ``uncertified_ttl_seconds`` instead)."""
    uncertified_quota_bytes: int = 4 << 30
    """Bytes of metadata and slivers of not-yet-certified blobs the node keeps at once;
    uploads beyond it get RESOURCE_EXHAUSTED until blobs are certified or expire."""
    memory_budget_bytes: int = 1 << 30
    """Bytes all requests together may hold in memory (slivers being received, verified
    or sent, symbols being sent). A request that does not fit waits, then fails with
    RESOURCE_EXHAUSTED; size it below the pod's memory limit minus ~300 MiB of base."""
    memory_wait_seconds: float = 5.0
    """How long a request waits for room in ``memory_budget_bytes`` (back-pressure)."""
    request_buffer_bytes: int = 16 << 20
    """Verified slivers one StoreSlivers or StoreBlob stream holds before writing them to
    the store (one transaction per this many bytes, written while the stream is read on);
    larger means fewer fsyncs, smaller means the disk starts writing a big upload sooner.
    A 64 MiB blob on 7 shards sends each node a 22 MB and a 13 MB sliver: the first is
    written while the second arrives."""
    read_buffer_bytes: int = 1 << 20
    """Bytes of a stored sliver one read copies out of the store at a time (one
    GetSliver message; the parity band when cutting recovery symbols). A GetSliver holds
    two such pieces whatever the sliver's size; 64 KiB to 4 MiB."""
    gc_interval_seconds: float = 60.0
    """Seconds between two passes of the collector of uncertified data (blobs older than
    ``uncertified_ttl_seconds``); each pass reads every blob's info once."""
    store_writer_threads: int = 4
    """Threads that write to the store. Writes arriving together share one transaction and
    one fsync (group commit, walrus_node.store.group_commit), so a few threads let
    concurrent uploads commit together instead of queueing one fsync each; each thread
    holds at most one write (and its slivers, already counted in the memory budget)."""
    max_sliver_bytes: int = 256 << 20
    """Largest sliver (or recovery symbol) the node accepts or reads from any stream;
    blobs up to about ``(n - 2f) x`` this size can be stored."""
    peer_stream_max_bytes: int = 1 << 30
    """Total bytes the node reads from one peer stream (a sliver, a shard batch, a list of
    recovery symbols); a peer sending more is cut off and treated as faulty."""
    max_symbols_per_read: int = 64
    """Source symbols one GetSliverSymbols call may ask for (a ranged read); a bigger run is
    refused with RESOURCE_EXHAUSTED, naming this limit. Each symbol carries a proof of
    ceil(log2 n) hashes."""
    max_symbol_read_bytes: int = 64 << 20
    """Bytes of symbols one GetSliverSymbols answer may carry; a bigger run is refused with
    RESOURCE_EXHAUSTED (the reader then asks for the whole primary sliver instead)."""
    symbol_tree_cache_bytes: int = 16 << 20
    """Memory for the Merkle trees of primary slivers recently uploaded or read by symbol
    (their leaves: 32 bytes per shard per sliver, and ~300 bytes around them; 16 MiB
    holds ~32,000 trees at 7 shards, ~500 at 1000). With a sliver's tree at hand, a run
    of its symbols is read from the store without reading, expanding and hashing the
    whole sliver; 0 keeps none."""
    metadata_cache_bytes: int = 16 << 20
    """Memory for the parsed metadata of recently used blobs (about 224 bytes per shard
    per blob: 16 MiB holds ~10,000 blobs' metadata at 7 shards, ~74 at 1000), so that a
    request does not read and parse it again; 0 keeps none."""
    control_nonce_cache_size: int = 100_000
    """Nonces of admin and shard-sync requests remembered (each for the 5-minute window
    in which its timestamp is accepted) to refuse replays; about 100 bytes each. Only
    requests with a valid signature enter; when full, new ones are refused
    (RESOURCE_EXHAUSTED) until old ones age out."""
    store_map_size_gib: int = 1024
    """Upper bound of the store's size (the LMDB map: address space reserved at open,
    not memory or disk)."""
    store_disk_reserve_bytes: int = 64 << 20
    """Disk bytes the store keeps allocated past its data's end, beyond each write's own
    bytes, for the B-tree's pages and for small writes (walrus_node.store.disk_room).
    Writes that do not fit with it are refused (RESOURCE_EXHAUSTED, nothing written)
    instead of failing the commit they would share with others; deletions still go
    through."""
    tune_allocator: bool = True
    """Keep freed blob-sized buffers in the process (glibc mmap/trim thresholds raised,
    see walrus_node.allocator): receiving slivers, and the store's dirty pages of each
    commit, then reuse mapped memory instead of page-faulting fresh memory each time
    (+40% store throughput in BENCHMARKS.md). The price: RSS stays at its peak until
    the node is idle (idle_trim_seconds)."""
    idle_trim_seconds: float = 10.0
    """After this many seconds in which no request reserved memory, freed heap memory is
    given back to the kernel (malloc_trim, walrus_node.service.idle_trim), so the node's
    RSS returns to its base between bursts instead of staying at its peak; 0 turns it off.
    Long enough that blobs arriving a few seconds apart keep reusing mapped memory (what
    tune_allocator is for), short enough that an idle node shrinks soon."""
    store_map_release_seconds: float = 5.0
    """Every this many seconds, the store file's pages are dropped from the node's memory
    map (madvise, walrus_node.service.map_release): reads go through LMDB's map, and each
    page touched stays in the node's RSS, which otherwise grows with every blob stored
    and served (+0.33 MiB per 1 MiB blob at 7 nodes). The pages stay in the page cache;
    a later read maps them again with a minor fault. 0 turns it off."""
    tls_cert_file: pathlib.Path | None = None
    """The node's certificate (PEM). When set, the gRPC port serves TLS only, and every
    caller must present a client certificate signed by ``tls_ca_file`` (docs/security.md,
    "TLS"). The certificate needs a DNS name equal to ``name``; it is also the node's
    client certificate towards peers. Unset: plaintext (benchmarks of TLS cost only)."""
    tls_key_file: pathlib.Path | None = None
    """The private key of ``tls_cert_file`` (PEM). Required with it."""
    tls_ca_file: pathlib.Path | None = None
    """The network CA (PEM): verifies callers' client certificates and peers' server
    certificates. Required with ``tls_cert_file``."""
    log_format: str = "auto"
    """"json", "console", or "auto" (console on a terminal, JSON otherwise)."""
    log_level: str = "info"

    def __post_init__(self) -> None:
        for port_key in ("grpc_port", "metrics_port"):
            port = getattr(self, port_key)
            if not -1 <= port <= 65535:
                raise ConfigError(f"{port_key}: {port} is not a port number")
        if self.log_format not in {"json", "console", "auto"}:
            raise ConfigError(f"log_format: {self.log_format!r} is not json, console or auto")
        if self.max_concurrent_blob_syncs < 1:
            raise ConfigError("max_concurrent_blob_syncs: must be at least 1")
        self._check_minimums()
        if not 64 << 10 <= self.read_buffer_bytes <= 4 << 20:
            raise ConfigError("read_buffer_bytes: must be between 64 KiB and 4 MiB")
        for key in ("gc_interval_seconds", "stream_idle_seconds", "recovery_peer_timeout_seconds"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key}: must be positive")
        if self.max_sliver_bytes > self.memory_budget_bytes:
            raise ConfigError("max_sliver_bytes: must not exceed memory_budget_bytes")
        tls = (self.tls_cert_file, self.tls_key_file, self.tls_ca_file)
        if any(f is not None for f in tls) and not all(f is not None for f in tls):
            raise ConfigError("tls_cert_file, tls_key_file and tls_ca_file: set all or none")

    def _check_minimums(self) -> None:
        """Settings that must be positive (or, for some, not negative)."""
        for key in (
            "uncertified_quota_bytes",
            "memory_budget_bytes",
            "request_buffer_bytes",
            "max_sliver_bytes",
            "peer_stream_max_bytes",
            "max_symbol_read_bytes",
            "recovery_batch_bytes",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: must be at least 1 byte")
        for key in (
            "store_writer_threads",
            "max_symbols_per_read",
            "control_nonce_cache_size",
            "max_recovery_targets",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: must be at least 1")
        for key in (
            "idle_trim_seconds",
            "store_map_release_seconds",
            "symbol_tree_cache_bytes",
            "metadata_cache_bytes",
            "shard_sync_memo_blobs",
            "pending_deletions",
            "pending_deletions_per_peer",
            "pending_vouches",
            "pending_vouches_per_peer",
            "store_disk_reserve_bytes",
            "shard_sync_give_up_seconds",
        ):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}: must not be negative")


def _convert(key: str, annotation: Any, value: Any) -> Any:  # noqa: PLR0912  (one branch per type)
    """Coerce a YAML or environment value to the field's declared type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):  # X | None
        if value is None or value == "":
            return None
        inner = next(a for a in args if a is not type(None))
        return _convert(key, inner, value)
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_convert(key, args[0], v) for v in value)
    try:
        if annotation is pathlib.Path:
            return pathlib.Path(str(value))
        if annotation is bool:
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if annotation is int:
            if isinstance(value, bool):
                raise ValueError("a boolean is not an integer")
            return int(value)
        if annotation is float:
            return float(value)
        if annotation is str:
            return str(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{key}: {value!r} is not a valid {annotation.__name__}") from e
    raise ConfigError(f"{key}: unsupported type {annotation}")


def from_mapping(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> NodeConfig:
    """Build a config from parsed YAML, then apply ``WALRUS_<KEY>`` overrides."""
    hints = typing.get_type_hints(NodeConfig)
    fields = {f.name for f in dataclasses.fields(NodeConfig)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"unknown key(s): {', '.join(unknown)}")
    values: dict[str, Any] = {k: _convert(k, hints[k], v) for k, v in data.items()}
    for key in fields:
        env = (environ if environ is not None else os.environ).get(ENV_PREFIX + key.upper())
        if env is not None:
            values[key] = _convert(key, hints[key], env)
    missing = [
        f.name
        for f in dataclasses.fields(NodeConfig)
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing required key(s): {', '.join(missing)}")
    return NodeConfig(**values)


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> NodeConfig:
    try:
        data = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return from_mapping(data, environ)
