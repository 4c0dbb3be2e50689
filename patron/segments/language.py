"""The segment language end to end: text to a checked tree to a WHERE clause."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.time import utcnow
from patron.segments import repository
from patron.segments.ast import Node
from patron.segments.compiler import Context, branches, condition
from patron.segments.fields import Catalog
from patron.segments.parser import parse


@dataclass(frozen=True)
class Compiled:
    tree: Node
    where: ColumnElement[bool]
    catalog: Catalog
    # conditions whose members together are ``where``'s, for counting and the first page:
    # the branches of a top-level "or" that reads orders or events, each run on its own
    alternatives: tuple[ColumnElement[bool], ...]


def compile_text(text: str, catalog: Catalog, *, now: datetime | None = None) -> Compiled:
    """Parse and compile; raises a ``SegmentError`` for anything that cannot run."""
    tree = parse(text)
    context = Context(catalog, now or utcnow())
    where = condition(tree, context)
    parts = branches(tree)
    alternatives = (where,) if len(parts) == 1 else tuple(condition(p, context) for p in parts)
    return Compiled(tree, where, catalog, alternatives)


async def compile_for(db: AsyncSession, text: str, *, now: datetime | None = None) -> Compiled:
    return compile_text(text, await repository.load_catalog(db), now=now)
