"""``walrus-bench codec --baseline isal``: ISA-L through ctypes does the real work on our
buffers, the comparison is printed with its figures, and a missing ISA-L is said."""

from __future__ import annotations

import concurrent.futures
import json

import numpy as np
import pytest

from walrus_node import bench
from walrus_node.bench import isal

LIB = isal.load()
needs_isal = pytest.mark.skipif(
    LIB is None, reason="ISA-L is not installed (Debian: apt-get install libisal2)"
)


@needs_isal
@pytest.mark.parametrize("threads", [1, 2])
def test_isal_rebuilds_strided_sources_from_its_parity(threads: int) -> None:
    """The pointer arrays reach the right bytes: parity computed in place in a strided
    matrix (as the column code is) rebuilds the sources, piece by piece on a pool."""
    assert LIB is not None
    k, n, s, groups = 4, 10, 3 * isal.PIECE // 2 + 2, 3
    matrix = np.zeros((n, groups * s), dtype=np.uint8)
    matrix[:k] = np.random.default_rng(5).integers(0, 256, (k, groups * s), dtype=np.uint8)
    base = matrix.ctypes.data
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        LIB.encoder(k, n).apply(
            [[base + i * groups * s + g * s for i in range(k)] for g in range(groups)],
            [[base + i * groups * s + g * s for i in range(k, n)] for g in range(groups)],
            s,
            threads,
            pool,
        )
        assert matrix[k:].any()
        have, want = list(range(n - k, n)), list(range(k))
        rebuilt = np.zeros((k, groups * s), dtype=np.uint8)
        out = rebuilt.ctypes.data
        LIB.decoder(k, n, have, want).apply(
            [[base + i * groups * s + g * s for i in have] for g in range(groups)],
            [[out + w * groups * s + g * s for w in want] for g in range(groups)],
            s,
            threads,
            pool,
        )
    assert np.array_equal(rebuilt, matrix[:k])


@needs_isal
def test_the_codec_benchmark_prints_ours_beside_isal(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["codec", "--shards", "10", "--size", "100000", "--iterations", "2", "--threads", "1"]
    assert bench.main([*argv, "--baseline", "isal"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.rstrip("\n").splitlines()[-1])
    steps = result["baseline"]
    assert set(steps) == {
        "row code 7 -> 10, 4 groups",
        "column code 4 -> 10, 10 groups",
        "rebuild 4 rows from parity, 7 groups",
        "encode (fill + RS + all commitments)",
    }
    for figures in steps.values():
        assert figures["ours_cpu_ms"] >= 0 and figures["isal_cpu_ms"] >= 0
        low, high = figures["isal_cpu_ms_range"]
        assert low <= figures["isal_cpu_ms"] <= high
    assert "back to back with ISA-L" in out


def test_a_missing_isal_is_said_and_no_comparison_made(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(isal, "load", lambda: None)
    argv = ["codec", "--shards", "4", "--size", "1000", "--iterations", "1", "--baseline", "isal"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "ISA-L NOT FOUND" in out
    assert json.loads(out.rstrip("\n").splitlines()[-1])["baseline"] is None


@needs_isal
def test_codes_too_long_for_gf256_get_no_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["codec", "--shards", "300", "--size", "1000", "--iterations", "1"]
    assert bench.main([*argv, "--threads", "1", "--baseline", "isal"]) == 0
    out = capsys.readouterr().out
    assert "at most 255 shards, not 300: no comparison was made" in out
    assert json.loads(out.rstrip("\n").splitlines()[-1])["baseline"] is None
