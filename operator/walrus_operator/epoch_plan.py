"""What the epoch controller does next for one network, given what it observed: `decide`.

Input: the network (spec and annotations), its persisted `EpochRecord` (None before the
first committee), one `NodeView` per WalrusNode that references it (spec, annotations,
the key the operator made for it, and the node's own `NodeReport`), and the time. Output:
a `Plan`: the record to persist (unchanged when there is nothing to do), the Events that
tell people what happened, and why the network waits or what failed. Level-based: the
same observations give the same plan; nothing is remembered between passes except the
record.

The steps, each through the committee library (`walrus_node.committee`), so the
operator, the testbed and the nodes cannot disagree:

1. **Genesis** (no record yet). The candidates are the WalrusNodes that are not excluded
   (`walrus-k8s.io/exclude-from-committee: "true"`) or being deleted and have stake
   `>= spec.minimumStake` (and > 0). Once every one of them serves and reports the
   identity the operator made for it (`status.publicKey`), the first committee is
   selected by stake (D'Hondt, `spec.maxShardsPerNode` cap) as epoch 1.
2. **Endpoints.** A member whose address changed (pod-IP mode, after a pod restart) gets
   its new endpoint in the committee; the epoch stays the same.
3. **Sync progress.** A member of the current epoch whose `GetSyncStatus` says it holds
   every shard it gained is recorded done; the phase turns Stable once done members own
   `n - f` shards.
4. **Deadline.** An epoch change older than `Limits.epoch_change_deadline` (or one the
   annotation `walrus-k8s.io/replan-epoch` names) records its members that have not
   finished and do not answer as done, so the phase can turn Stable, and re-plans at once
   without the members whose WalrusNode is gone or that have not answered for
   `Limits.member_unreachable`; their new owners recover those shards from the rest.
5. **Advance.** When the epoch is `spec.epochDurationSeconds` old, or the network's
   `walrus-k8s.io/advance-epoch` annotation holds a value not acted on yet, and the phase
   is Stable: pay the ending epoch's reward pool to its committee, select the next
   committee from the candidates and start the change. Current members stay candidates
   while they are briefly unreachable (a restart must not move all their shards), but not
   once unreachable for `Limits.member_unreachable`; new
   nodes join only once they serve with the right identity. Excluded and deleting nodes
   are left out, which is how a node hands its shards off before it goes.

Prices are fixed per epoch from the new committee's votes (`network_prices`). Pure.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import typing

from walrus_node.committee import committee as committee_mod
from walrus_node.committee import epoch as epoch_mod
from walrus_node.committee import errors as committee_errors
from walrus_node.committee import member, price, reward, selection
from walrus_node.protocol import committee_file
from walrus_operator import epoch_record, models, naming, outcome, reports

__all__ = [
    "DEFAULT_QUANTILE_BPS",
    "Limits",
    "NodeView",
    "Plan",
    "decide",
    "network_id",
    "network_params",
    "network_prices",
    "next_epoch_due",
    "shard_cap",
    "shard_ranges",
]

DEFAULT_QUANTILE_BPS = 6667
"""`spec.pricing.quantileBps` that means exactly two thirds: the protocol's own rule
(`walrus_node.committee.price.quorum_below`)."""
_MAX_BPS = 10_000
_FIRST_EPOCH = 1
_LISTED = 8
"""Names and moves listed in an Event message before "and N more"."""


def shard_cap(spec: models.NetworkSpec, candidates: int) -> int | None:
    """The most shards one node may hold: `spec.maxShardsPerNode`, else f, so that losing
    any one node never costs more than the code tolerates. With too few candidates to
    place every shard at f each (fewer than four nodes: such a network cannot tolerate a
    failure anyway) the default cap is lifted rather than refusing the committee."""
    if spec.max_shards_per_node is not None:
        return spec.max_shards_per_node
    f = (spec.shard_count - 1) // 3
    return f if f > 0 and candidates * f >= spec.shard_count else None


def _since(text: object) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return epoch_record.parse_time(text)
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class Limits:
    """Time limits of the planner (operator settings; None: no limit)."""

    epoch_change_deadline: datetime.timedelta | None = None
    """After this long in EpochChange, members that have not finished and do not answer
    are dropped from the sync plan and the change is re-planned without them."""
    member_unreachable: datetime.timedelta | None = None
    """A current member that has not answered for this long is no longer a candidate."""


@dataclasses.dataclass(frozen=True)
class NodeView:
    """One WalrusNode of the network as seen in this pass."""

    name: str
    staking: models.Staking
    public_key: str | None
    """`status.publicKey`: the identity the operator made for the node (its key Secret)."""
    endpoint: str | None
    """Where the operator reaches the node (DNS name or pod IP); None if not known yet."""
    excluded: bool
    deleting: bool
    report: reports.NodeReport
    current_status: collections.abc.Mapping[str, typing.Any] = dataclasses.field(
        default_factory=dict, compare=False
    )
    """The WalrusNode's `.status` as read (to write only what changed)."""
    paused: bool = False
    """`spec.paused`: the roller leaves the node's pod alone."""
    unreachable_since: datetime.datetime | None = None
    """`status.unreachableSince`: since when the node has not answered (None: it answers)."""

    @classmethod
    def of(
        cls,
        node: models.WalrusNode,
        endpoint: str | None,
        report: reports.NodeReport,
        current_status: collections.abc.Mapping[str, typing.Any] | None = None,
    ) -> NodeView:
        return cls(
            name=node.metadata.name,
            staking=node.spec.staking,
            public_key=node.status.public_key,
            endpoint=endpoint,
            excluded=node.metadata.annotations.get(naming.ANNOTATION_EXCLUDE) == "true",
            deleting=node.metadata.deletion_timestamp is not None,
            report=report,
            current_status=current_status or {},
            paused=node.spec.paused,
            unreachable_since=_since((current_status or {}).get("unreachableSince")),
        )

    @property
    def identity_ok(self) -> bool:
        """The node answers and holds the key the operator made for it."""
        return (
            self.report.reachable
            and bool(self.public_key)
            and self.report.public_key == self.public_key
        )

    @property
    def address_ok(self) -> bool:
        """The endpoint is a `host:port` the committee can carry."""
        if self.endpoint is None:
            return False
        try:
            member.split_endpoint(self.endpoint)
        except committee_errors.InvalidFieldError:
            return False
        return True

    @property
    def joinable(self) -> bool:
        """Ready to be given shards: serving, with the right identity, at a known address."""
        return self.identity_ok and self.report.serving and self.address_ok

    @property
    def leaving(self) -> bool:
        return self.excluded or self.deleting

    def why_not_joinable(self) -> str:
        if not self.report.reachable:
            return self.report.error or "not reachable"
        if not self.public_key:
            return "no status.publicKey yet"
        if self.report.public_key != self.public_key:
            return "reports a key other than its status.publicKey"
        if not self.report.serving:
            return "not SERVING"
        if self.endpoint is None:
            return "no endpoint yet"
        return f"endpoint {self.endpoint!r} is not host:port"

    def candidate(self, public_key: bytes, endpoint: str) -> member.NodeCandidate:
        return member.NodeCandidate(
            name=self.name,
            public_key=public_key,
            endpoint=endpoint,
            stake=self.staking.stake,
            commission_bps=self.staking.commission_bps,
            storage_price_vote=self.staking.storage_price_vote,
            write_price_vote=self.staking.write_price_vote,
        )


@dataclasses.dataclass(frozen=True)
class Plan:
    record: epoch_record.EpochRecord | None
    changed: bool = False
    """`record` differs from the persisted one: persist it, then push it to the nodes."""
    events: tuple[outcome.Event, ...] = ()
    waiting: str = ""
    """Why there is no committee yet, or why a due/requested change has not started."""
    failure: str = ""
    """A step the committee library refused (no eligible candidate, say)."""


# --------------------------------------------------------------------------- prices


def _quantile(votes: collections.abc.Iterable[tuple[int, int]], bps: int) -> int:
    """Lowest vote `v` such that votes `<= v` carry at least `bps / 10 000` of the weight."""
    pooled: dict[int, int] = {}
    for value, weight in votes:
        pooled[value] = pooled.get(value, 0) + weight
    total = sum(pooled.values())
    running = 0
    for value in sorted(pooled):
        running += pooled[value]
        if _MAX_BPS * running >= bps * total:
            return value
    return max(pooled)


def network_prices(committee: committee_mod.Committee, pricing: models.Pricing) -> price.Prices:
    """The committee's prices: the stake-weighted `quantileBps` quantile of its votes (the
    library's two-thirds rule at the default), raised to the spec's floors."""
    if pricing.quantile_bps == DEFAULT_QUANTILE_BPS:
        voted = price.network_prices(committee)
    else:
        voted = price.Prices(
            storage_price=_quantile(
                ((m.storage_price_vote, m.stake) for m in committee.members),
                pricing.quantile_bps,
            ),
            write_price=_quantile(
                ((m.write_price_vote, m.stake) for m in committee.members), pricing.quantile_bps
            ),
        )
    return price.Prices(
        storage_price=max(voted.storage_price, pricing.min_storage_price),
        write_price=max(voted.write_price, pricing.min_write_price),
    )


def network_params(
    committee: committee_mod.Committee, spec: models.NetworkSpec, network_id: str = ""
) -> committee_file.NetworkParams:
    prices = network_prices(committee, spec.pricing)
    return committee_file.NetworkParams(
        storage_price=prices.storage_price,
        write_price=prices.write_price,
        network_id=network_id,
    )


def network_id(network: models.WalrusNetwork) -> str:
    """The committee file's network ID: nodes obey admin requests signed for it only."""
    return f"{network.metadata.namespace}/{network.metadata.name}"


# --------------------------------------------------------------------------- helpers


def shard_ranges(shards: collections.abc.Iterable[int]) -> list[tuple[int, int]]:
    """Sorted shards as inclusive (start, end) runs: 0,1,2,5 → (0, 2), (5, 5)."""
    runs: list[tuple[int, int]] = []
    for shard in sorted(shards):
        if runs and runs[-1][1] == shard - 1:
            runs[-1] = (runs[-1][0], shard)
        else:
            runs.append((shard, shard))
    return runs


def _ranges_text(shards: collections.abc.Iterable[int]) -> str:
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in shard_ranges(shards))


def _listing(items: collections.abc.Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    more = len(items) - _LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _describe(committee: committee_mod.Committee) -> str:
    return _listing([f"{m.name} {_ranges_text(m.shards)}" for m in committee.members])


def next_epoch_due(record: epoch_record.EpochRecord, spec: models.NetworkSpec) -> datetime.datetime:
    return record.started + datetime.timedelta(seconds=spec.epoch_duration_seconds)


def _advance_request(network: models.WalrusNetwork) -> str | None:
    return network.metadata.annotations.get(naming.ANNOTATION_ADVANCE_EPOCH)


# --------------------------------------------------------------------------- steps


def _genesis(
    network: models.WalrusNetwork, nodes: collections.abc.Sequence[NodeView], now: datetime.datetime
) -> Plan:
    spec = network.spec
    wanting = [
        n
        for n in nodes
        if not n.leaving and n.staking.stake > 0 and n.staking.stake >= spec.minimum_stake
    ]
    if not wanting:
        return Plan(
            None,
            waiting=f"no WalrusNode with stake >= spec.minimumStake ({spec.minimum_stake}) "
            "and above 0 references this network",
        )
    pending = [f"{n.name} ({n.why_not_joinable()})" for n in wanting if not n.joinable]
    if pending:
        return Plan(None, waiting=f"waiting for nodes to serve: {_listing(pending)}")
    try:
        candidates = [
            n.candidate(member.decode_public_key(n.public_key or ""), n.endpoint or "")
            for n in wanting
        ]
        chosen = selection.select(
            candidates,
            spec.shard_count,
            epoch=_FIRST_EPOCH,
            cap=shard_cap(spec, len(candidates)),
            min_stake=spec.minimum_stake,
        )
    except committee_errors.CommitteeError as exc:
        return Plan(None, failure=f"cannot form the first committee: {exc}")
    state = epoch_mod.EpochState.genesis(chosen.committee)
    record = epoch_record.EpochRecord(
        committee_file.ActiveCommittees(
            state, network_params(state.current, spec, network_id(network))
        ),
        started=now,
        advance_handled=_advance_request(network),
    )
    event = outcome.Event(
        "CommitteeFormed",
        f"epoch {_FIRST_EPOCH} begins with {len(state.current.members)} members: "
        f"{_describe(state.current)}",
    )
    return Plan(record, changed=True, events=(event,))


def _replace_endpoints(
    state: epoch_mod.EpochState, endpoints: collections.abc.Mapping[bytes, str]
) -> epoch_mod.EpochState:
    def refreshed(c: committee_mod.Committee | None) -> committee_mod.Committee | None:
        if c is None:
            return None
        members = tuple(
            dataclasses.replace(m, endpoint=endpoints.get(m.public_key, m.endpoint))
            for m in c.members
        )
        return committee_mod.Committee(c.epoch, c.n_shards, members)

    current = refreshed(state.current)
    assert current is not None  # the current committee always exists
    return epoch_mod.EpochState(
        current=current,
        phase=state.phase,
        previous=refreshed(state.previous),
        next=refreshed(state.next),
        sync_done=state.sync_done,
    )


def _refresh_endpoints(
    record: epoch_record.EpochRecord, nodes: collections.abc.Sequence[NodeView]
) -> tuple[epoch_record.EpochRecord, list[outcome.Event]]:
    """Members whose address changed (pod-IP mode) get their new endpoint."""
    current = record.state.current
    moved: dict[bytes, str] = {}
    for view in nodes:
        endpoint = view.endpoint
        if endpoint is None or not view.address_ok or not view.identity_ok:
            continue
        if view.name not in current:
            continue
        known = current.by_name(view.name)
        if member.encode_public_key(known.public_key) != view.public_key:
            continue
        if known.endpoint != endpoint:
            moved[known.public_key] = endpoint
    if not moved:
        return record, []
    state = _replace_endpoints(record.state, moved)
    changed = [m for m in state.current.members if m.public_key in moved]
    events = [
        outcome.Event("EndpointChanged", f"{m.name} is now reached at {m.endpoint}")
        for m in changed
    ]
    committees = committee_file.ActiveCommittees(state, record.committees.params)
    return dataclasses.replace(record, committees=committees), events


def _record_sync(
    record: epoch_record.EpochRecord, nodes: collections.abc.Sequence[NodeView]
) -> tuple[epoch_record.EpochRecord, list[outcome.Event]]:
    """Members that report every gained shard received are recorded done."""
    before = record.state
    state = before
    for view in nodes:
        sync = view.report.sync
        if view.name not in state.current or view.name in state.sync_done or sync is None:
            continue
        if view.report.reachable and sync.epoch == state.epoch and sync.done:
            state = state.record_sync_done(view.name, state.epoch)
    if state == before:
        return record, []
    events = []
    if before.phase is epoch_mod.Phase.EPOCH_CHANGE and state.phase is epoch_mod.Phase.STABLE:
        events.append(_completed(state))
    if before.pending_moves and not state.pending_moves:
        events.append(
            outcome.Event(
                "HandOffCompleted",
                f"epoch {state.epoch}: every member holds all its shards; previous owners may go",
            )
        )
    committees = committee_file.ActiveCommittees(state, record.committees.params)
    return dataclasses.replace(record, committees=committees), events


def _completed(state: epoch_mod.EpochState) -> outcome.Event:
    return outcome.Event(
        "EpochChangeCompleted",
        f"epoch {state.epoch} is Stable: members done syncing own {state.synced_weight} "
        f"of {state.n_shards} shards (quorum {state.current.params.quorum})",
    )


def _gone(view: NodeView, limits: Limits, now: datetime.datetime) -> bool:
    """Unreachable for longer than the limit allows a candidate to be."""
    return (
        limits.member_unreachable is not None
        and view.unreachable_since is not None
        and not view.report.reachable
        and now - view.unreachable_since >= limits.member_unreachable
    )


def _next_candidates(
    state: epoch_mod.EpochState,
    nodes: collections.abc.Sequence[NodeView],
    drop: frozenset[str] = frozenset(),
) -> list[member.NodeCandidate]:
    current = state.current
    candidates = []
    for view in nodes:
        if view.leaving or view.name in drop:
            continue
        known = current.by_name(view.name) if view.name in current else None
        if known is not None and member.encode_public_key(known.public_key) == view.public_key:
            endpoint = known.endpoint
            if view.identity_ok and view.address_ok and view.endpoint is not None:
                endpoint = view.endpoint
            candidates.append(view.candidate(known.public_key, endpoint))
        elif view.joinable:
            key = member.decode_public_key(view.public_key or "")
            candidates.append(view.candidate(key, view.endpoint or ""))
    return candidates


def _expire(
    record: epoch_record.EpochRecord,
    network: models.WalrusNetwork,
    nodes: collections.abc.Sequence[NodeView],
    now: datetime.datetime,
    limits: Limits,
) -> tuple[epoch_record.EpochRecord, frozenset[str], list[outcome.Event]]:
    """Past the change's deadline (or on `walrus-k8s.io/replan-epoch` naming this epoch),
    members that have not finished and do not answer (or whose WalrusNode is gone) are
    recorded done, so the phase can turn Stable. Members whose WalrusNode is gone, or that
    have not answered for `Limits.member_unreachable`, are returned, to be left out of the
    re-planned change that follows as soon as the phase is Stable; their new owners recover
    those shards from the rest. The deadline runs from the change's start."""
    state = record.state
    deadline = limits.epoch_change_deadline
    late = deadline is not None and now - record.started >= deadline
    asked = network.metadata.annotations.get(naming.ANNOTATION_REPLAN_EPOCH) == str(state.epoch)
    changing = state.phase is epoch_mod.Phase.EPOCH_CHANGE or bool(state.pending_moves)
    if not changing or not (asked or late):
        return record, frozenset(), []
    views = {v.name: v for v in nodes}
    answering = {v.name for v in nodes if v.report.reachable and not v.leaving}
    silent = frozenset(
        n
        for n in state.current.names
        if n not in views
        or (
            not views[n].report.reachable
            and (limits.member_unreachable is None or _gone(views[n], limits, now))
        )
    )
    stuck = sorted(n for n in state.current.names if n not in state.sync_done | answering)
    if not stuck:
        return record, silent, []
    for name in stuck:
        state = state.record_sync_done(name, state.epoch)
    why = "re-plan requested" if asked else f"deadline of {deadline} passed"
    events = [
        outcome.Event(
            "EpochChangeDeadline",
            f"epoch {state.epoch} ({why}): {_listing(stuck)} did not finish and do not "
            "answer; dropped from the sync plan and left out of the next committee, "
            "whose members recover their shards from the rest",
            warning=True,
        )
    ]
    if record.state.phase is epoch_mod.Phase.EPOCH_CHANGE and state.phase is epoch_mod.Phase.STABLE:
        events.append(_completed(state))
    committees = committee_file.ActiveCommittees(state, record.committees.params)
    return dataclasses.replace(record, committees=committees), silent, events


def _advance(
    record: epoch_record.EpochRecord,
    network: models.WalrusNetwork,
    nodes: collections.abc.Sequence[NodeView],
    now: datetime.datetime,
    limits: Limits = Limits(),
    dropped: frozenset[str] = frozenset(),
) -> Plan:
    spec = network.spec
    state = record.state
    request = _advance_request(network)
    requested = request is not None and request != record.advance_handled
    due = now >= next_epoch_due(record, spec)
    if not (requested or due or dropped):
        return Plan(record)
    why = "requested" if requested else f"scheduled every {spec.epoch_duration_seconds} s"
    if dropped:
        why = f"re-planned without {_listing(sorted(dropped))}"
    if state.phase is epoch_mod.Phase.EPOCH_CHANGE:
        return Plan(
            record,
            waiting=f"epoch {state.epoch + 1} ({why}) waits until epoch {state.epoch} is "
            f"Stable: members done syncing own {state.synced_weight} of the "
            f"{state.current.params.quorum} shards needed",
        )
    try:
        gone = dropped | {v.name for v in nodes if _gone(v, limits, now)}
        candidates = _next_candidates(state, nodes, frozenset(gone))
        chosen = state
        if chosen.next is None:
            chosen = chosen.select_next(
                candidates,
                cap=shard_cap(spec, len(candidates)),
                min_stake=spec.minimum_stake,
            )
        changed = chosen.start_epoch_change()
        paid = reward.split_rewards(spec.epoch_reward_pool, state.current)
        ledger = record.ledger.record(paid)
    except committee_errors.CommitteeError as exc:
        return Plan(record, failure=f"cannot start epoch {state.epoch + 1} ({why}): {exc}")
    new = epoch_record.EpochRecord(
        committee_file.ActiveCommittees(
            changed, network_params(changed.current, spec, network_id(network))
        ),
        started=now,
        ledger=ledger,
        last_rewards=paid,
        advance_handled=request,
    )
    moves = [f"{m.shard} {m.source}→{m.destination}" for m in changed.moves]
    joined = sorted(set(changed.current.names) - set(state.current.names))
    left = sorted(set(state.current.names) - set(changed.current.names))
    detail = [f"{len(changed.current.members)} members"]
    if joined:
        detail.append(f"joining {_listing(joined)}")
    if left:
        detail.append(f"leaving {_listing(left)}")
    detail.append(f"{len(moves)} shards move" + (f" ({_listing(moves)})" if moves else ""))
    events = [
        outcome.Event(
            "EpochChangeStarted",
            f"epoch {state.epoch} → {changed.epoch} ({why}): " + "; ".join(detail),
        )
    ]
    if changed.phase is epoch_mod.Phase.STABLE:
        events.append(_completed(changed))
    return Plan(new, changed=True, events=tuple(events))


def decide(
    record: epoch_record.EpochRecord | None,
    network: models.WalrusNetwork,
    nodes: collections.abc.Sequence[NodeView],
    now: datetime.datetime,
    limits: Limits = Limits(),
) -> Plan:
    """The next step for `network` (module doc)."""
    if record is None:
        return _genesis(network, nodes, now)
    current, endpoint_events = _refresh_endpoints(record, nodes)
    current, sync_events = _record_sync(current, nodes)
    current, dropped, deadline_events = _expire(current, network, nodes, now, limits)
    step = _advance(current, network, nodes, now, limits, dropped)
    return dataclasses.replace(
        step,
        changed=step.changed or current != record,
        events=(*endpoint_events, *sync_events, *deadline_events, *step.events),
    )
