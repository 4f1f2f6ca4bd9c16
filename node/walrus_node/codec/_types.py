"""Type aliases shared by the codec modules."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["AddrArray", "Buffer", "U8Array"]

U8Array = npt.NDArray[np.uint8]
"""Bytes as a NumPy array (symbols, slivers, the expanded matrix)."""

AddrArray = npt.NDArray[np.uintp]
"""Raw addresses of fragment buffers, for ISA-L."""

Buffer = bytes | bytearray | memoryview
"""Any contiguous bytes-like input."""
