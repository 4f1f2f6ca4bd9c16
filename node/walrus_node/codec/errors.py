"""Errors raised by the codec. Every one names what failed and why.

::

    CodecError
     ├── ParameterError              shard count or blob length outside what the code supports
     ├── ShortReadError              a reader ended before the blob's length (a file shrank)
     ├── VerificationError           received bytes do not match the commitments
     │    ├── InvalidMetadataError    metadata malformed or not hashing to the blob ID
     │    ├── InvalidSliverError      a sliver's size or Merkle root is wrong
     │    ├── InvalidSymbolError      a recovery symbol's size, indices or proof is wrong
     │    └── InvalidProofError       an inconsistency proof that is malformed or proves nothing
     ├── NotEnoughDataError          fewer distinct slivers/symbols than the threshold
     └── InconsistentEncodingError   pieces verify, but decode to data the metadata does not
                                     commit to: the writer encoded the blob inconsistently

Callers above the codec (node, client) map these to transport codes in one table.
"""

from __future__ import annotations

__all__ = [
    "CodecError",
    "InconsistentEncodingError",
    "InvalidMetadataError",
    "InvalidProofError",
    "InvalidSliverError",
    "InvalidSymbolError",
    "NotEnoughDataError",
    "ParameterError",
    "ShortReadError",
    "VerificationError",
]


class CodecError(Exception):
    """Base class of every codec error."""


class ParameterError(CodecError, ValueError):
    """The shard count or blob size is outside what the code supports."""


class ShortReadError(CodecError):
    """A reader the blob was encoded from ended before the length it was said to have
    (a file shrank while read): nothing was encoded, so no blob ID was computed."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"the input ended after {got} of its {expected} bytes")
        self.expected = expected
        self.got = got


class VerificationError(CodecError):
    """Data received from elsewhere does not match what the metadata commits to."""


class InvalidMetadataError(VerificationError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid metadata: {reason}")
        self.reason = reason


class InvalidSliverError(VerificationError):
    def __init__(self, sliver_type: str, index: int, reason: str) -> None:
        super().__init__(f"invalid {sliver_type} sliver {index}: {reason}")
        self.sliver_type = sliver_type
        self.index = index
        self.reason = reason


class InvalidProofError(VerificationError):
    """An inconsistency proof that is malformed or does not prove inconsistency."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid inconsistency proof: {reason}")
        self.reason = reason


class InvalidSymbolError(VerificationError):
    def __init__(self, source_type: str, source_index: int, target_index: int, reason: str):
        super().__init__(
            f"invalid recovery symbol from {source_type} sliver {source_index} "
            f"for index {target_index}: {reason}"
        )
        self.source_type = source_type
        self.source_index = source_index
        self.target_index = target_index
        self.reason = reason


class NotEnoughDataError(CodecError):
    def __init__(self, what: str, needed: int, got: int) -> None:
        super().__init__(f"not enough {what}: need {needed} distinct, got {got}")
        self.what = what
        self.needed = needed
        self.got = got


class InconsistentEncodingError(CodecError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"blob is inconsistently encoded: {reason}")
        self.reason = reason
