"""The epoch state machine: a worked example, refused steps, and random operation sequences."""

from __future__ import annotations

import json

import hypothesis
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.unit.committee import strategies
from walrus_node.committee import epoch, errors, member, selection


def nodes(**stakes: int) -> list[member.NodeCandidate]:
    return [strategies.candidate(f"node-{name}", stake) for name, stake in stakes.items()]


def genesis() -> epoch.EpochState:
    # 10 shards, stakes 1:2:3:4 -> a (0), b (1, 2), c (3, 4, 5), d (6, 7, 8, 9).
    first = selection.select(nodes(a=100, b=200, c=300, d=400), 10, epoch=1).committee
    return epoch.EpochState.genesis(first)


def test_a_full_epoch_change() -> None:
    state = genesis()
    assert state.phase is epoch.Phase.STABLE
    assert state.sync_done == {"node-a", "node-b", "node-c", "node-d"}

    # a leaves, e joins with the largest stake: e gets 4 shards, all freed ones.
    state = state.select_next(nodes(b=200, c=300, d=400, e=500))
    assert state.next is not None and state.epoch == 1
    assert state.next.assignment() == {
        "node-b": (1,),
        "node-c": (3, 4),
        "node-d": (6, 7, 8),
        "node-e": (0, 2, 5, 9),
    }

    state = state.start_epoch_change()
    assert (state.epoch, state.phase) == (2, epoch.Phase.EPOCH_CHANGE)
    assert state.previous is not None and state.previous.epoch == 1 and state.next is None
    # b, c, d only shrank: done at once, 6 shards < quorum 7.
    assert state.sync_done == {"node-b", "node-c", "node-d"}
    assert state.synced_weight == 6
    assert [(m.shard, m.source) for m in state.incoming("node-e")] == [
        (0, "node-a"),
        (2, "node-b"),
        (5, "node-c"),
        (9, "node-d"),
    ]
    assert state.pending_moves == state.moves

    # Routing while e syncs: writes to the new committee, old blobs from the old owners.
    assert state.write_committee() is state.current
    assert state.read_committee(1) is state.previous
    assert state.read_committee(2) is state.current
    assert state.read_owner(0, certified_epoch=1).name == "node-a"
    assert state.read_owner(1, certified_epoch=1).name == "node-b"
    assert state.read_owner(0, certified_epoch=2).name == "node-e"

    state = state.record_sync_done("node-e", 2)
    assert state.phase is epoch.Phase.STABLE
    assert state.read_committee(1) is state.current
    assert state.read_owner(0, certified_epoch=1).name == "node-e"
    assert state.pending_moves == ()
    assert epoch.EpochState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_a_change_that_moves_little_completes_at_once() -> None:
    state = genesis().select_next(nodes(a=100, b=200, c=300, d=400))
    state = state.start_epoch_change()
    assert (state.epoch, state.phase) == (2, epoch.Phase.STABLE)
    assert state.moves == ()


def test_refused_steps() -> None:
    state = genesis()
    with pytest.raises(errors.TransitionError, match="no next committee has been selected"):
        state.start_epoch_change()
    chosen = state.select_next(nodes(b=200, c=300, d=400, e=500))
    with pytest.raises(errors.TransitionError, match="epoch 2 is chosen"):
        chosen.select_next(nodes(a=1))
    changing = chosen.start_epoch_change()
    with pytest.raises(errors.TransitionError, match="still changing"):
        changing.start_epoch_change()
    with pytest.raises(errors.TransitionError, match="still changing"):
        changing.select_next(nodes(a=1))
    with pytest.raises(errors.TransitionError, match="current epoch is 2"):
        changing.record_sync_done("node-e", 1)
    with pytest.raises(errors.TransitionError, match="'node-a' is not a member of epoch 2"):
        changing.record_sync_done("node-a", 2)
    assert changing.record_sync_done("node-b", 2) is changing  # already done: no change


def test_file_form() -> None:
    state = genesis().select_next(nodes(b=200, c=300, d=400, e=500)).start_epoch_change()
    d = state.to_dict()
    assert list(d) == [
        "version",
        "epoch",
        "phase",
        "n_shards",
        "members",
        "previous",
        "next",
        "sync_done",
    ]
    assert d["phase"] == "EpochChange"
    assert d["previous"]["epoch"] == 1 and "n_shards" not in d["previous"]
    assert d["sync_done"] == ["node-b", "node-c", "node-d"]
    # Network parameters may be written alongside; the state ignores them.
    assert epoch.EpochState.from_dict({**d, "params": {"max_epochs_ahead": 53}}) == state


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phase": "Changing"}, "phase"),
        ({"sync_done": ["node-b", "node-c", "node-d", "nobody"]}, "sync_done"),
        ({"sync_done": ["node-b", "node-c"]}, "sync_done"),
        ({"sync_done": ["node-b", "node-c", "node-d", "node-e"]}, "phase"),
        ({"previous": None}, "previous"),
        ({"epoch": 3}, "previous.epoch"),
        ({"n_shards": 13}, "members"),
        ({"version": "1"}, "version"),
        ({"colour": 1}, "colour"),
    ],
)
def test_parse_errors_name_the_field(change: dict[str, object], field: str) -> None:
    state = genesis().select_next(nodes(b=200, c=300, d=400, e=500)).start_epoch_change()
    with pytest.raises(errors.InvalidFieldError) as caught:
        epoch.EpochState.from_dict({**state.to_dict(), **change})
    assert caught.value.field == field


def test_nested_parse_errors_name_the_path() -> None:
    d = genesis().select_next(nodes(b=200, c=300, d=400, e=500)).to_dict()
    d["next"]["members"][3]["stake"] = -1
    with pytest.raises(errors.InvalidFieldError) as caught:
        epoch.EpochState.from_dict(d)
    assert caught.value.field == "next.members[3].stake"


class EpochMachine(RuleBasedStateMachine):
    """Random sequences of steps, valid or not; invariants checked after each."""

    def __init__(self) -> None:
        super().__init__()
        self.state: epoch.EpochState
        self.epochs_started = 0

    @initialize(
        n=st.sampled_from([4, 7, 10, 13]),
        candidates=strategies.candidates(max_size=8),
        first_epoch=st.integers(0, 5),
    )
    def start(self, n: int, candidates: list[member.NodeCandidate], first_epoch: int) -> None:
        self.first_epoch = first_epoch
        self.state = epoch.EpochState.genesis(
            selection.select(candidates, n, epoch=first_epoch).committee
        )

    @rule(candidates=strategies.candidates(max_size=8), cap=st.one_of(st.none(), st.integers(1, 5)))
    def select_next(self, candidates: list[member.NodeCandidate], cap: int | None) -> None:
        before = self.state
        allowed = before.phase is epoch.Phase.STABLE and before.next is None
        try:
            self.state = before.select_next(candidates, cap=cap)
        except errors.TransitionError:
            assert not allowed
            return
        assert allowed
        assert self.state.next is not None and self.state.next.epoch == before.epoch + 1

    @rule(data=st.data())
    def select_mostly_the_same_members(self, data: st.DataObject) -> None:
        """Small stake changes: few moves, so changes that finish at once are exercised."""
        if self.state.phase is not epoch.Phase.STABLE or self.state.next is not None:
            return
        candidates = [
            m.candidate
            if data.draw(st.booleans())
            else member.NodeCandidate(**{**vars(m.candidate), "stake": m.stake + 1})
            for m in self.state.current.members
        ]
        self.state = self.state.select_next(candidates)

    @rule()
    def start_epoch_change(self) -> None:
        before = self.state
        allowed = before.phase is epoch.Phase.STABLE and before.next is not None
        try:
            self.state = before.start_epoch_change()
        except errors.TransitionError:
            assert not allowed
            return
        assert allowed
        self.epochs_started += 1
        hypothesis.event(f"change starts {self.state.phase}")
        assert self.state.epoch == before.epoch + 1
        assert self.state.current == before.next
        assert self.state.previous == before.current

    @rule(data=st.data())
    def a_syncing_member_finishes(self, data: st.DataObject) -> None:
        if self.state.phase is not epoch.Phase.EPOCH_CHANGE:
            return
        waiting = sorted({m.destination for m in self.state.pending_moves})
        name = data.draw(st.sampled_from(waiting))
        self.state = self.state.record_sync_done(name, self.state.epoch)
        assert name in self.state.sync_done

    @rule(name=st.sampled_from(strategies.NAMES), offset=st.integers(-1, 1))
    def anyone_reports(self, name: str, offset: int) -> None:
        before = self.state
        allowed = offset == 0 and name in before.current
        try:
            self.state = before.record_sync_done(name, before.epoch + offset)
        except errors.TransitionError:
            assert not allowed
            return
        assert allowed
        assert self.state.epoch == before.epoch

    @invariant()
    def epochs_only_advance_one_at_a_time(self) -> None:
        assert self.state.epoch == self.first_epoch + self.epochs_started

    @invariant()
    def every_shard_has_one_owner_in_every_committee(self) -> None:
        for c in (self.state.current, self.state.previous, self.state.next):
            if c is not None:
                assert sorted(s for m in c.members for s in m.shards) == list(range(c.n_shards))

    @invariant()
    def phase_matches_sync_progress(self) -> None:
        s = self.state
        assert s.sync_done <= set(s.current.names)
        if s.phase is epoch.Phase.EPOCH_CHANGE:
            assert not s.current.is_quorum(s.synced_weight)
            assert s.next is None
            assert s.pending_moves
        if s.previous is not None:
            for name in s.current.names:
                if not s.gained(name):
                    assert name in s.sync_done

    @invariant()
    def routing(self) -> None:
        s = self.state
        assert s.write_committee() is s.current
        old = s.read_committee(max(0, s.epoch - 1))
        if s.phase is epoch.Phase.EPOCH_CHANGE and s.epoch > 0:
            assert old is s.previous
            for shard in range(s.n_shards):
                owner = s.read_owner(shard, s.epoch - 1)
                done = s.current.owner(shard).name in s.sync_done
                assert s.previous is not None
                expected = s.current.owner(shard) if done else s.previous.owner(shard)
                assert owner == expected
        else:
            assert old is s.current

    @invariant()
    def survives_the_committee_file(self) -> None:
        text = json.dumps(self.state.to_dict())
        assert epoch.EpochState.from_dict(json.loads(text)) == self.state


EpochMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
test_epoch_state_machine = EpochMachine.TestCase
