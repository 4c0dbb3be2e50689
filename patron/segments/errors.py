"""Errors of the segment language, each with a stable code and, when known, a position."""

from __future__ import annotations

from collections.abc import Sequence

from patron.errors import CRMError


class SegmentError(CRMError):
    """An expression that cannot be run: bad syntax, an unknown field, a wrong type, too big.

    ``details`` carries one entry with ``line``, ``column`` (1-based, when known),
    ``expected`` (what would have been accepted there) and ``suggestion`` (a close field name).
    """

    status = 422
    code = "segment_syntax"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        line: int | None = None,
        column: int | None = None,
        expected: Sequence[str] = (),
        suggestion: str | None = None,
    ) -> None:
        detail: dict[str, object] = {
            "field": "expression",
            "message": message,
            "type": code or self.code,
            "line": line,
            "column": column,
            "expected": list(expected),
            "suggestion": suggestion,
        }
        super().__init__(message, code=code, details=[detail])
        self.line = line
        self.column = column
        self.expected = list(expected)
        self.suggestion = suggestion


class SegmentSyntaxError(SegmentError):
    code = "segment_syntax"


class UnknownField(SegmentError):
    code = "unknown_field"


class TypeMismatch(SegmentError):
    code = "type_mismatch"


class TooComplex(SegmentError):
    code = "too_complex"


class UnknownSegment(SegmentError):
    code = "unknown_segment"


class SegmentTimeout(CRMError):
    """The count took longer than the statement timeout: simplify, or try again later."""

    status = 503
    code = "segment_timeout"
