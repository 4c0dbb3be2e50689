"""Keyset pagination: ``?limit=&cursor=`` over a stable, unique sort order.

The cursor is an opaque, URL-safe encoding of the last row's sort values; pages stay
correct while rows are inserted and cost the same at page 1 and page 10,000.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from patron.errors import InvalidInput

T = TypeVar("T")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=500, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "dt" in value:
        return datetime.fromisoformat(value["dt"])
    if isinstance(value, dict) and "uuid" in value:
        return uuid.UUID(value["uuid"])
    if isinstance(value, dict) and "dec" in value:
        return Decimal(value["dec"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, columns: Sequence[InstrumentedAttribute[Any]]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = [_decode_value(v) for v in json.loads(raw)]
    except (ValueError, TypeError, KeyError, AttributeError, InvalidOperation):
        values = []
    types = [column.type.python_type for column in columns]
    if len(values) != len(columns) or not all(
        isinstance(value, kind) for value, kind in zip(values, types, strict=True)
    ):
        raise InvalidInput(
            "The cursor is not valid; start again from the first page.",
            code="invalid_cursor",
            details=[{"field": "cursor", "message": "not a cursor from this list"}],
        )
    return values


async def paginate(
    db: AsyncSession,
    query: Select[T],
    *,
    order: Sequence[InstrumentedAttribute[Any]],
    params: PageParams,
    descending: bool = True,
) -> tuple[list[T], str | None]:
    """Rows of one page and the cursor of the next; ``order`` must end in a unique column."""
    if params.cursor:
        values = decode_cursor(params.cursor, order)
        key = tuple_(*order)
        query = query.where(key < tuple_(*values) if descending else key > tuple_(*values))
    query = query.order_by(*[(c.desc() if descending else c.asc()) for c in order])
    rows = list((await db.scalars(query.limit(params.limit + 1))).all())
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, encode_cursor([getattr(last, column.key) for column in order])
