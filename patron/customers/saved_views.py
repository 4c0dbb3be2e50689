"""Saved views: a staff member's named list filters (the list page's query string).

A view belongs to one person: nobody else lists or deletes it (someone else's is a 404).
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlencode

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.customers.listing import CustomerQuery
from patron.errors import Conflict, InvalidInput, NotFound
from patron.kit.time import utcnow
from patron.models import SavedView

MAX_VIEWS = 100
# page position is not part of a view
NOT_SAVED = frozenset({"cursor", "csrf_token", "view"})
LIST_FIELDS = frozenset(
    name
    for name, field in CustomerQuery.model_fields.items()
    if getattr(field.annotation, "__origin__", None) is list
)


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        message, code="invalid_saved_view", details=[{"field": field, "message": message}]
    )


def clean_query(entity: str, query: str) -> str:
    """The query string without page position; a customer view's filters must be valid."""
    pairs = [
        (key, value)
        for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=False)
        if key not in NOT_SAVED
    ]
    if entity == "customers":
        values: dict[str, list[str]] = {}
        for key, value in pairs:
            values.setdefault(key, []).append(value)
        single = {k: v if k in LIST_FIELDS else v[-1] for k, v in values.items()}
        try:
            CustomerQuery.model_validate(single)
        except ValidationError as error:
            problem = error.errors()[0]
            field = ".".join(str(part) for part in problem["loc"][:1]) or "query"
            raise _invalid("query", f"The filter {field} is not valid: {problem['msg']}") from None
    return urlencode(pairs)


async def list_views(db: AsyncSession, *, user_id: uuid.UUID, entity: str) -> list[SavedView]:
    rows = await db.scalars(
        select(SavedView)
        .where(SavedView.user_id == user_id, SavedView.entity == entity)
        .order_by(SavedView.name, SavedView.id)
    )
    return list(rows)


async def get_view(db: AsyncSession, *, user_id: uuid.UUID, view_id: uuid.UUID) -> SavedView:
    view = await db.get(SavedView, view_id)
    if view is None or view.user_id != user_id:
        raise NotFound("No such saved view.", code="saved_view_not_found")
    return view


async def create_view(
    db: AsyncSession, *, user_id: uuid.UUID, entity: str, name: str, query: str
) -> SavedView:
    name = " ".join(name.split())
    if not name:
        raise _invalid("name", "Give the view a name.")
    existing = await list_views(db, user_id=user_id, entity=entity)
    if any(view.name.lower() == name.lower() for view in existing):
        raise Conflict(
            f"You already have a view called “{name}”.",
            code="duplicate_saved_view",
            details=[{"field": "name", "message": "already used"}],
        )
    if len(existing) >= MAX_VIEWS:
        raise _invalid("name", f"You can keep at most {MAX_VIEWS} views; delete one first.")
    view = SavedView(
        user_id=user_id,
        entity=entity,
        name=name[:100],
        query=clean_query(entity, query),
        created_at=utcnow(),
    )
    db.add(view)
    await db.flush()
    return view


async def delete_view(db: AsyncSession, *, user_id: uuid.UUID, view_id: uuid.UUID) -> SavedView:
    view = await get_view(db, user_id=user_id, view_id=view_id)
    await db.delete(view)
    await db.flush()
    return view
