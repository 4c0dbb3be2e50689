"""Creating a customer from the panel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from patron.customers import service
from patron.customers.auth import CustomerWrite
from patron.customers.schemas import CustomerCreate
from patron.customers.views.addresses import ADDRESS_TEXT
from patron.customers.views.common import (
    SettingsDep,
    comma_list,
    form_errors,
    lifecycle_choices,
    staff_choices,
    text_field,
    validation_error,
)
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.web.templating import redirect, render

router = APIRouter()
PROFILE_TEXT = {
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "email": 320,
    "phone": 40,
    "tags": 2000,
    "owner_id": 40,
    "lifecycle_stage": 12,
}


async def _form_page(
    request: Request,
    db: AsyncSession,
    *,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "customers/new.html",
        {
            "form": form,
            "errors": errors or {},
            "staff": await staff_choices(db),
            "stages": lifecycle_choices(),
        },
        status_code=status_code,
    )


@router.get("/customers/new")
async def new_customer_form(request: Request, principal: CustomerWrite, db: DbSession) -> Response:
    return await _form_page(request, db, form={"owner_id": str(principal.user_id)})


def _create_payload(form: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "first_name": form["first_name"],
        "last_name": form["last_name"],
        "company": form["company"] or None,
        "email": form["email"] or None,
        "phone": form["phone"] or None,
        "tags": comma_list(form["tags"]),
        "owner_id": form["owner_id"] or None,
        "lifecycle_stage": form["lifecycle_stage"] or None,
        "source": "panel",
    }
    address = {name: form[f"address_{name}"] for name in ADDRESS_TEXT if name != "phone"}
    if any(address[name] for name in ("line1", "line2", "city", "postal_code", "country")):
        payload["addresses"] = [address]
    payload["consents"] = [
        {"channel": channel, "status": "subscribed", "source": "panel"}
        for channel in ("email", "sms")
        if form[f"consent_{channel}"]
    ]
    return payload


@router.post("/customers/new")
async def create_customer(
    request: Request, principal: CustomerWrite, db: DbSession, settings: SettingsDep
) -> Response:
    posted = await request.form()
    form: dict[str, Any] = {
        name: text_field(posted, name, size) for name, size in PROFILE_TEXT.items()
    }
    for name, size in ADDRESS_TEXT.items():
        form[f"address_{name}"] = text_field(posted, f"address_{name}", size)
    for channel in ("email", "sms"):
        form[f"consent_{channel}"] = posted.get(f"consent_{channel}") == "on"
    try:
        try:
            data = CustomerCreate.model_validate(_create_payload(form))
        except ValidationError as error:
            raise validation_error(error) from None
        async with db.begin_nested():
            customer = await service.create_customer(db, settings, principal=principal, data=data)
    except CRMError as error:
        errors = form_errors(error, [*form, *(f"address.{n}" for n in ADDRESS_TEXT), "channel"])
        return await _form_page(request, db, form=form, errors=errors, status_code=error.status)
    return redirect(request, f"/customers/{customer.id}", flash=f"{customer.name} created.")
