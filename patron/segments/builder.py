"""What the visual builder needs: a JSON tree (whose conditions may be written as text) to
canonical text, and a tree whose every condition carries its own canonical text."""

from __future__ import annotations

from typing import Any

from patron.segments.ast import Node, from_json, to_json
from patron.segments.errors import SegmentSyntaxError, TooComplex
from patron.segments.parser import MAX_DEPTH, check_limits, parse
from patron.segments.text import to_text

GROUPS = ("and", "or")


def _expand(data: Any, where: str, depth: int) -> Any:
    """The tree with each ``{"type": "text", "text": ...}`` condition replaced by its tree."""
    if depth > MAX_DEPTH:
        raise TooComplex(f"The expression nests deeper than {MAX_DEPTH} levels.")
    if not isinstance(data, dict):
        return data
    kind = data.get("type")
    if kind == "text":
        text = data.get("text")
        if not isinstance(text, str):
            raise SegmentSyntaxError(f"{where}: 'text' must be a string.")
        try:
            return to_json(parse(text))
        except SegmentSyntaxError as error:
            raise SegmentSyntaxError(
                f"{where}: {error.message}",
                line=error.line,
                column=error.column,
                expected=error.expected,
                suggestion=error.suggestion,
            ) from None
    if kind in GROUPS and isinstance(data.get("items"), list):
        items = [
            _expand(item, f"{where}.items[{i}]", depth + 1) for i, item in enumerate(data["items"])
        ]
        return {**data, "items": items}
    if kind == "not":
        return {**data, "item": _expand(data.get("item"), f"{where}.item", depth + 1)}
    return data


def tree_of(data: Any) -> Node:
    """The checked tree of the builder's JSON (``segment_syntax`` or ``too_complex`` if bad)."""
    node = from_json(_expand(data, "ast", 1))
    check_limits(node)
    return node


def annotated(node: Node) -> dict[str, Any]:
    """The JSON tree, each condition (not a group or a ``not``) with its canonical ``text``."""
    data = to_json(node)
    _annotate(data)
    return data


def _annotate(data: dict[str, Any]) -> None:
    if data["type"] in GROUPS:
        for item in data["items"]:
            _annotate(item)
    elif data["type"] == "not":
        _annotate(data["item"])
    else:
        data["text"] = to_text(from_json(data))
