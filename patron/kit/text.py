"""Text helpers for search."""

from __future__ import annotations

LIKE_ESCAPE = "\\"


def contains_pattern(term: str) -> str:
    """An ILIKE pattern matching ``term`` anywhere, with its wildcards taken literally."""
    escaped = term.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
