"""The segment language end to end: text to a checked tree to a WHERE clause."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.time import utcnow
from patron.segments import repository
from patron.segments.ast import Node
from patron.segments.compiler import Context, condition
from patron.segments.fields import Catalog
from patron.segments.parser import parse


@dataclass(frozen=True)
class Compiled:
    tree: Node
    where: ColumnElement[bool]
    catalog: Catalog


def compile_text(text: str, catalog: Catalog, *, now: datetime | None = None) -> Compiled:
    """Parse and compile; raises a ``SegmentError`` for anything that cannot run."""
    tree = parse(text)
    where = condition(tree, Context(catalog, now or utcnow()))
    return Compiled(tree, where, catalog)


async def compile_for(db: AsyncSession, text: str, *, now: datetime | None = None) -> Compiled:
    return compile_text(text, await repository.load_catalog(db), now=now)
