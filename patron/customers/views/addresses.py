"""The Addresses tab's forms: add, edit, set as default, delete."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from patron.customers import repository, service
from patron.customers.auth import CustomerWrite
from patron.customers.schemas import AddressIn, AddressUpdate
from patron.customers.views.common import form_errors, text_field, validation_error
from patron.customers.views.profile import customer_url, profile_page
from patron.db.deps import DbSession
from patron.errors import CRMError
from patron.web.templating import redirect

router = APIRouter()
ADDRESS_TEXT = {
    "label": 40,
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "line1": 200,
    "line2": 200,
    "city": 100,
    "region": 100,
    "postal_code": 20,
    "country": 60,
    "phone": 40,
}


def address_fields(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: text_field(form, name, size) for name, size in ADDRESS_TEXT.items()
    }
    values["phone"] = values["phone"] or None
    values["is_default_billing"] = form.get("is_default_billing") == "on"
    values["is_default_shipping"] = form.get("is_default_shipping") == "on"
    return values


@router.post("/customers/{customer_id}/addresses")
async def add_address(
    request: Request, customer_id: uuid.UUID, principal: CustomerWrite, db: DbSession
) -> Response:
    form = await request.form()
    values = address_fields(form)
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    try:
        try:
            data = AddressIn.model_validate(values)
        except ValidationError as error:
            raise validation_error(error) from None
        async with db.begin_nested():
            await service.add_address(db, customer=customer, data=data, actor=principal.actor)
    except CRMError as error:
        await db.refresh(customer)
        return await profile_page(
            request,
            db,
            principal,
            customer,
            tab="addresses",
            status_code=error.status,
            address_errors={"new": form_errors(error, values)},
            address_form={"new": values},
        )
    return redirect_to_addresses(request, customer.id, "Address added.")


def redirect_to_addresses(request: Request, customer_id: uuid.UUID, message: str) -> Response:
    return redirect(request, customer_url(customer_id, "addresses"), flash=message)


@router.post("/customers/{customer_id}/addresses/{address_id}")
async def update_address(
    request: Request,
    customer_id: uuid.UUID,
    address_id: uuid.UUID,
    principal: CustomerWrite,
    db: DbSession,
) -> Response:
    form = await request.form()
    values = address_fields(form)
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    changes = dict(values)
    for flag in ("is_default_billing", "is_default_shipping"):
        if not changes[flag]:
            changes.pop(flag)  # unticking a default does not leave the customer without one
    try:
        try:
            update = AddressUpdate.model_validate(changes)
        except ValidationError as error:
            raise validation_error(error) from None
        async with db.begin_nested():
            await service.update_address(
                db,
                customer=customer,
                address_id=address_id,
                changes=update.model_dump(exclude_unset=True),
                actor=principal.actor,
            )
    except CRMError as error:
        if error.status == 404:
            raise
        await db.refresh(customer)
        key = str(address_id)
        return await profile_page(
            request,
            db,
            principal,
            customer,
            tab="addresses",
            status_code=error.status,
            address_errors={key: form_errors(error, values)},
            address_form={key: values},
        )
    return redirect_to_addresses(request, customer.id, "Address saved.")


@router.post("/customers/{customer_id}/addresses/{address_id}/default")
async def make_default(
    request: Request,
    customer_id: uuid.UUID,
    address_id: uuid.UUID,
    principal: CustomerWrite,
    db: DbSession,
) -> Response:
    form = await request.form()
    kind = text_field(form, "kind", 10)
    flags = {
        "billing": {"is_default_billing": True},
        "shipping": {"is_default_shipping": True},
    }.get(kind, {"is_default_billing": True, "is_default_shipping": True})
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    await service.update_address(
        db, customer=customer, address_id=address_id, changes=flags, actor=principal.actor
    )
    label = {"billing": "billing", "shipping": "shipping"}.get(kind, "billing and shipping")
    return redirect_to_addresses(request, customer.id, f"Default {label} address set.")


@router.post("/customers/{customer_id}/addresses/{address_id}/delete")
async def delete_address(
    request: Request,
    customer_id: uuid.UUID,
    address_id: uuid.UUID,
    principal: CustomerWrite,
    db: DbSession,
) -> Response:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    await service.remove_address(
        db, customer=customer, address_id=address_id, actor=principal.actor
    )
    return redirect_to_addresses(request, customer.id, "Address deleted.")
