"""/api/v1/saved-views: each staff member's own named list filters."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from patron.customers import saved_views
from patron.customers.auth import CustomerRead
from patron.customers.schemas import SavedViewIn, SavedViewOut
from patron.db.deps import DbSession
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses

router = APIRouter(
    prefix=f"{API_PREFIX}/saved-views", tags=["saved views"], responses=COMMON_ERRORS
)


@router.get("", response_model=list[SavedViewOut], summary="Your saved views")
async def list_views(
    principal: CustomerRead,
    db: DbSession,
    entity: Annotated[Literal["customers", "orders"], Query()] = "customers",
) -> list[SavedViewOut]:
    views = await saved_views.list_views(db, user_id=principal.user_id, entity=entity)
    return [SavedViewOut.model_validate(view) for view in views]


@router.post(
    "",
    response_model=SavedViewOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
    summary="Save a list filter under a name",
)
async def create_view(body: SavedViewIn, principal: CustomerRead, db: DbSession) -> SavedViewOut:
    view = await saved_views.create_view(
        db, user_id=principal.user_id, entity=body.entity, name=body.name, query=body.query
    )
    return SavedViewOut.model_validate(view)


@router.delete(
    "/{view_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
    summary="Delete one of your saved views",
)
async def delete_view(view_id: uuid.UUID, principal: CustomerRead, db: DbSession) -> None:
    await saved_views.delete_view(db, user_id=principal.user_id, view_id=view_id)
