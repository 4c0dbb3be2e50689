"""Segments that name other segments (``in segment "X"``): the order to refresh them in, so a
chain moves in one refresh, and the cycles a save must refuse."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from patron.segments.errors import SegmentError


class SegmentCycle(SegmentError):
    code = "segment_cycle"


class Named(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def name(self) -> str: ...

    @property
    def ast(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Definition:
    """A segment's identity and its stored tree (a ``Segment`` row serves as well)."""

    id: uuid.UUID
    name: str
    ast: dict[str, Any] | None


def referenced_names(tree: Any) -> set[str]:
    """The names (lower case, as the language matches them) of the segments a stored tree
    names with ``in segment``."""
    found: set[str] = set()
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if node.get("type") == "in_segment" and isinstance(node.get("name"), str):
                found.add(node["name"].lower())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def _graph(segments: Sequence[Named]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each segment's id to the ids of the saved segments it names (unknown names left out)."""
    by_name = {segment.name.lower(): segment.id for segment in segments}
    return {
        segment.id: sorted(
            by_name[name] for name in referenced_names(segment.ast) if name in by_name
        )
        for segment in segments
    }


SegmentT = TypeVar("SegmentT", bound=Named)


def dependency_order(segments: Iterable[SegmentT]) -> list[SegmentT]:
    """The segments with each one after those it names; otherwise in id order. Segments in a
    cycle (a save refuses one, but older rows may hold one) come in id order where it is met."""
    listed = sorted(segments, key=lambda segment: segment.id)
    graph = _graph(listed)
    by_id = {segment.id: segment for segment in listed}
    placed: set[uuid.UUID] = set()
    ordered: list[SegmentT] = []

    def place(segment_id: uuid.UUID, visiting: set[uuid.UUID]) -> None:
        if segment_id in placed or segment_id in visiting:
            return
        visiting.add(segment_id)
        for needed in graph[segment_id]:
            if needed in by_id:
                place(needed, visiting)
        placed.add(segment_id)
        ordered.append(by_id[segment_id])

    for segment in listed:
        place(segment.id, set())
    return ordered


def _paths_back(
    graph: dict[uuid.UUID, list[uuid.UUID]], start: uuid.UUID
) -> Iterator[list[uuid.UUID]]:
    """Every chain of references from ``start`` that comes back to it (depth first)."""
    stack: list[tuple[uuid.UUID, list[uuid.UUID]]] = [(start, [start])]
    seen: set[uuid.UUID] = set()
    while stack:
        node, path = stack.pop()
        for needed in graph.get(node, []):
            if needed == start:
                yield [*path, start]
            elif needed not in seen:
                seen.add(needed)
                stack.append((needed, [*path, needed]))


def refuse_cycles(segments: Sequence[Named], changed: Named) -> None:
    """Refuses a definition of ``changed`` (replacing the stored one of the same id) that
    would make a segment name itself, directly or through others."""
    others = [segment for segment in segments if segment.id != changed.id]
    graph = _graph([*others, changed])
    names = {segment.id: segment.name for segment in [*others, changed]}
    for cycle in _paths_back(graph, changed.id):
        chain = " → ".join(f"“{names[segment_id]}”" for segment_id in cycle)
        raise SegmentCycle(
            f"A segment cannot include itself: {chain}. Name a segment that does not lead "
            "back to this one."
        )
