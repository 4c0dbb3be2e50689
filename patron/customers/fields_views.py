"""Administration page for custom fields."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from patron.auth.dependencies import SettingsAdmin
from patron.customers import fields
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.kit.custom_fields import definitions
from patron.models.customers import CUSTOM_FIELD_ENTITIES, CUSTOM_FIELD_TYPES
from patron.web.templating import redirect, render

router = APIRouter(prefix="/admin/custom-fields")
ENTITIES = {"customer": "Customers", "order": "Orders", "product": "Products"}


async def _page(
    request: Request,
    db: DbSession,
    entity: str,
    *,
    form: dict[str, object] | None = None,
    error: CRMError | None = None,
) -> Response:
    return render(
        request,
        "admin/custom_fields.html",
        {
            "entity": entity,
            "entities": ENTITIES,
            "types": CUSTOM_FIELD_TYPES,
            "fields": await definitions(db, entity),
            "form": form or {},
            "error": error.message if error else None,
            "error_code": error.code if error else None,
        },
        status_code=error.status if error else 200,
    )


@router.get("")
async def list_fields(
    request: Request,
    principal: SettingsAdmin,
    db: DbSession,
    entity: Annotated[str, Query(max_length=10)] = "customer",
) -> Response:
    return await _page(request, db, entity if entity in CUSTOM_FIELD_ENTITIES else "customer")


@router.post("")
async def create_field(
    request: Request,
    principal: SettingsAdmin,
    db: DbSession,
    entity: Annotated[str, Form(max_length=10)] = "customer",
    label: Annotated[str, Form(max_length=100)] = "",
    key: Annotated[str, Form(max_length=40)] = "",
    field_type: Annotated[str, Form(max_length=12)] = "text",
    options: Annotated[str, Form(max_length=5000)] = "",
    required: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    entity = entity if entity in CUSTOM_FIELD_ENTITIES else "customer"
    form: dict[str, object] = {
        "label": label,
        "key": key,
        "field_type": field_type,
        "options": options,
        "required": required == "on",
    }
    try:
        if not label.strip() or not key or field_type not in CUSTOM_FIELD_TYPES:
            raise CRMError("Give a label, a key and a type.", code="invalid_input", status=422)
        if not key.replace("_", "").isalnum() or not key[0].isalpha() or key != key.lower():
            raise CRMError(
                "The key uses lower case letters, digits and _ and starts with a letter.",
                code="invalid_key",
                status=422,
            )
        field = await fields.create(
            db,
            actor=principal.actor,
            entity=entity,
            key=key,
            label=label,
            field_type=field_type,
            required=required == "on",
            options=options.split(","),
        )
    except CRMError as error:
        return await _page(request, db, entity, form=form, error=error)
    return redirect(
        request, f"/admin/custom-fields?entity={entity}", flash=f"Field “{field.label}” added."
    )


@router.post("/{field_id}/delete")
async def delete_field(
    request: Request, field_id: uuid.UUID, principal: SettingsAdmin, db: DbSession
) -> Response:
    field = await fields.get(db, field_id)
    entity, label = field.entity, field.label
    cleared = await fields.delete_field(db, actor=principal.actor, field=field)
    return redirect(
        request,
        f"/admin/custom-fields?entity={entity}",
        flash=f"Field “{label}” deleted; its value was removed from {cleared} records.",
    )
