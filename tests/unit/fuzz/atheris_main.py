"""Coverage-guided fuzzing of every network decoder with atheris (libFuzzer for Python).

Who runs it: ``test_atheris.py`` briefly (a fixed number of inputs, fixed seed) in the
test suite; maintainers for long runs::

    .venv/bin/python -m tests.unit.fuzz.atheris_main -max_total_time=3600 \\
        -artifact_prefix=/tmp/walrus-fuzz- /tmp/walrus-corpus
    .venv/bin/python -m tests.unit.fuzz.atheris_main /tmp/walrus-fuzz-crash-<hash>  # replay

The targets are :data:`tests.unit.fuzz.decoders.TARGETS`, all behind one entry point (the
input's first byte picks one); ``walrus_node`` is instrumented for coverage. A target
raising anything but its documented error stops the run with the input written to
``<artifact_prefix>crash-<hash>`` and a non-zero exit status.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["walrus_node"]):
    from tests.unit.fuzz import decoders


def main() -> None:
    atheris.Setup(sys.argv, decoders.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
