"""The epoch controller's back-off for nodes that do not answer (`walrus_operator.backoff`):
the wait doubles per failure up to the ceiling, an answer ends it, and a pod that turned
Ready after the last failure ends it too (a restarted node is asked at once)."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from walrus_operator import backoff

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, 400_000, tzinfo=datetime.UTC)
BASE = datetime.timedelta(seconds=5)
CEILING = datetime.timedelta(seconds=60)
S = datetime.timedelta(seconds=1)


def _backoff() -> backoff.Backoff:
    return backoff.Backoff(BASE, CEILING)


def test_each_failure_doubles_the_wait_up_to_the_ceiling() -> None:
    b = _backoff()
    now = T0
    waits = []
    for _ in range(6):
        b.failed("ns/a", now, "UNAVAILABLE")
        wait = 0
        while b.waiting("ns/a", now + wait * S) is not None:
            wait += 1
        waits.append(wait)
        now += wait * S
    assert waits == [5, 10, 20, 40, 60, 60]


def test_an_answer_ends_the_wait() -> None:
    b = _backoff()
    b.failed("ns/a", T0, "UNAVAILABLE")
    assert b.waiting("ns/a", T0 + S) == "UNAVAILABLE"
    b.answered("ns/a")
    assert b.waiting("ns/a", T0 + S) is None


def test_a_pod_ready_since_the_failure_is_asked_at_once_and_counts_from_one() -> None:
    b = _backoff()
    for step in range(4):  # the pod restarting: the wait grew to 40 s
        b.failed("ns/a", T0 + 3 * step * S, "DEADLINE_EXCEEDED")
    last = T0 + 9 * S
    assert b.waiting("ns/a", last + 2 * S, ready_since=None) is not None
    assert b.waiting("ns/a", last + 2 * S, ready_since=last - 30 * S) is not None
    assert b.waiting("ns/a", last + 2 * S, ready_since=last + S) is None
    # It failed again (ready, but not reachable from here): back to the first wait.
    b.failed("ns/a", last + 2 * S, "UNAVAILABLE")
    assert b.waiting("ns/a", last + 2 * S + BASE - S, ready_since=last + S) is not None
    assert b.waiting("ns/a", last + 2 * S + BASE) is None


def test_ready_within_the_second_of_the_failure_counts_as_after_it() -> None:
    # lastTransitionTime has whole seconds: 12:00:00 may mean 12:00:00.9.
    b = _backoff()
    b.failed("ns/a", T0, "UNAVAILABLE")
    assert b.waiting("ns/a", T0 + S, ready_since=T0.replace(microsecond=0)) is None


@given(
    failures=st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=8),
    ready_offset=st.integers(min_value=-300, max_value=300),
    later=st.integers(min_value=0, max_value=200),
)
def test_ready_since_only_ever_shortens_the_wait(
    failures: list[int], ready_offset: int, later: int
) -> None:
    """Whatever the history: with a Ready time the node is asked no later than without,
    and asked at once when the pod turned Ready after (the second of) the last failure."""
    with_ready, without = _backoff(), _backoff()
    now = T0
    for gap in failures:
        now += gap * S
        with_ready.failed("ns/a", now, "x")
        without.failed("ns/a", now, "x")
    ready = now + ready_offset * S
    asked = now + later * S
    if without.waiting("ns/a", asked) is None:
        assert with_ready.waiting("ns/a", asked, ready_since=ready) is None
    if ready >= now.replace(microsecond=0):
        assert with_ready.waiting("ns/a", asked, ready_since=ready) is None
    elif without.waiting("ns/a", asked) is not None:
        assert with_ready.waiting("ns/a", asked, ready_since=ready) == "x"


def test_forget_drops_nodes_that_are_gone() -> None:
    b = _backoff()
    b.failed("ns/a", T0, "x")
    b.failed("ns/b", T0, "x")
    b.failed("other/a", T0, "x")
    b.forget("ns/", {"ns/a"})
    assert b.waiting("ns/a", T0) == "x"
    assert b.waiting("ns/b", T0) is None
    assert b.waiting("other/a", T0) == "x"
