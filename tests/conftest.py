"""Settings shared by every test.

Hypothesis's per-example deadline (200 ms by default) is turned off: the property tests
assert behaviour, not speed, and on a loaded two-core machine one example of an otherwise
sub-millisecond test can take half a second, which would fail the test for no fault of the
code. Speed is measured by ``walrus-bench`` (BENCHMARKS.md), not asserted here.
"""

from hypothesis import settings

settings.register_profile("walrus", deadline=None)
settings.load_profile("walrus")
