"""/api/v1/custom-fields: the fields admins add to customers, orders and products."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, status

from patron.auth.dependencies import Authenticated, SettingsAdmin
from patron.customers import fields
from patron.customers.schemas import CustomFieldIn, CustomFieldOut, CustomFieldUpdate
from patron.db.deps import DbSession
from patron.kit.custom_fields import definitions
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses

router = APIRouter(
    prefix=f"{API_PREFIX}/custom-fields", tags=["custom fields"], responses=COMMON_ERRORS
)


@router.get("", response_model=list[CustomFieldOut], summary="Custom fields of an entity")
async def list_fields(
    principal: Authenticated, db: DbSession, entity: Literal["customer", "order", "product"]
) -> list[CustomFieldOut]:
    return [CustomFieldOut.model_validate(f) for f in await definitions(db, entity)]


@router.post(
    "",
    response_model=CustomFieldOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
)
async def create_field(
    body: CustomFieldIn, principal: SettingsAdmin, db: DbSession
) -> CustomFieldOut:
    field = await fields.create(db, actor=principal.actor, **body.model_dump())
    return CustomFieldOut.model_validate(field)


@router.patch("/{field_id}", response_model=CustomFieldOut, responses=error_responses(404))
async def update_field(
    field_id: uuid.UUID, body: CustomFieldUpdate, principal: SettingsAdmin, db: DbSession
) -> CustomFieldOut:
    field = await fields.get(db, field_id)
    await fields.update_field(
        db, actor=principal.actor, field=field, changes=body.model_dump(exclude_unset=True)
    )
    return CustomFieldOut.model_validate(field)


@router.delete(
    "/{field_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404),
    summary="Delete a field and its values on every record",
)
async def delete_field(field_id: uuid.UUID, principal: SettingsAdmin, db: DbSession) -> None:
    field = await fields.get(db, field_id)
    await fields.delete_field(db, actor=principal.actor, field=field)
