"""/api/v1/customers: profiles, contact data, addresses, consent, lists and bulk actions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.auth.dependencies import get_settings
from patron.config import Settings
from patron.customers import bulk, listing, repository, service
from patron.customers.auth import CustomerRead, CustomerWrite
from patron.customers.listing import CustomerQuery
from patron.customers.schemas import (
    AddressIn,
    AddressOut,
    AddressUpdate,
    BulkAction,
    BulkResult,
    ConsentChange,
    ConsentHistoryOut,
    ConsentOut,
    ContactIn,
    CustomerCreate,
    CustomerOut,
    CustomerSummary,
    CustomerUpdate,
    EmailOut,
    ExternalIdIn,
    ExternalIdOut,
    MetricsOut,
    PhoneOut,
)
from patron.db.deps import DbSession
from patron.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.models import Customer, CustomerMetrics

router = APIRouter(prefix=f"{API_PREFIX}/customers", tags=["customers"], responses=COMMON_ERRORS)
NOT_FOUND = error_responses(404)
CONFLICT = error_responses(404, 409)
SettingsDep = Annotated[Settings, Depends(get_settings)]
PURPOSE = Query(default="marketing", pattern=r"^[a-z][a-z0-9_]{0,39}$")


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for more")
    total: int | None = Field(default=None, description="Only with `with_total=true`")


def summary(customer: Customer, metrics: CustomerMetrics | None) -> CustomerSummary:
    out = CustomerSummary.model_validate(customer)
    if metrics is not None:
        out.metrics = MetricsOut.model_validate(metrics)
    return out


async def profile(
    db: AsyncSession, customer: Customer, *, asked_for: uuid.UUID | None = None
) -> CustomerOut:
    metrics = (await repository.metrics_for(db, [customer.id])).get(customer.id)
    base = summary(customer, metrics).model_dump()
    detail = CustomerOut.model_validate(customer).model_dump(exclude=set(base))
    return CustomerOut(
        **base,
        **{
            **detail,
            "other_emails": [
                EmailOut.model_validate(e) for e in await repository.other_emails(db, customer.id)
            ],
            "other_phones": [
                PhoneOut.model_validate(p) for p in await repository.other_phones(db, customer.id)
            ],
            "addresses": [
                AddressOut.model_validate(a) for a in await repository.addresses(db, customer.id)
            ],
            "external_ids": [
                ExternalIdOut.model_validate(x)
                for x in await repository.external_ids(db, customer.id)
            ],
            "consents": [
                ConsentOut.model_validate(c) for c in await repository.consents(db, customer.id)
            ],
            "merged_from": asked_for if asked_for not in (None, customer.id) else None,
        },
    )


@router.get("", response_model=CustomerPage, summary="List and search customers")
async def list_customers(
    principal: CustomerRead,
    db: DbSession,
    filters: Annotated[CustomerQuery, Query()],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    with_total: bool = False,
) -> CustomerPage:
    rows, next_cursor = await listing.list_customers(
        db, principal, filters, limit=limit, cursor=cursor
    )
    total = await listing.count_customers(db, principal, filters) if with_total else None
    return CustomerPage(
        items=[summary(c, m) for c, m in rows], next_cursor=next_cursor, total=total
    )


@router.post(
    "",
    response_model=CustomerOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(409),
    summary="Create a customer",
)
async def create_customer(
    body: CustomerCreate, principal: CustomerWrite, db: DbSession, settings: SettingsDep
) -> CustomerOut:
    customer = await service.create_customer(db, settings, principal=principal, data=body)
    return await profile(db, customer)


@router.post(
    "/bulk",
    response_model=BulkResult,
    summary="Tag, untag, set the owner or the lifecycle stage of many customers",
    description="Without `confirm: true` nothing changes and the answer says how many match.",
)
async def bulk_action(
    body: BulkAction, principal: CustomerWrite, db: DbSession, settings: SettingsDep
) -> BulkResult:
    return await bulk.apply(db, settings, principal=principal, action=body)


@router.get(
    "/{customer_id}",
    response_model=CustomerOut,
    responses=NOT_FOUND,
    summary="A customer's profile; a merged customer's id answers with the survivor",
)
async def get_customer(
    customer_id: uuid.UUID, principal: CustomerRead, db: DbSession
) -> CustomerOut:
    customer = await repository.get_for(db, principal, customer_id)
    await audit.record_read(
        db, actor=principal.actor, object_type="customer", object_id=customer.id, purpose="api"
    )
    return await profile(db, customer, asked_for=customer_id)


@router.patch("/{customer_id}", response_model=CustomerOut, responses=CONFLICT)
async def update_customer(
    customer_id: uuid.UUID,
    body: CustomerUpdate,
    principal: CustomerWrite,
    db: DbSession,
    settings: SettingsDep,
) -> CustomerOut:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    await service.update_customer(
        db,
        settings,
        actor=principal.actor,
        customer=customer,
        changes=body.model_dump(exclude_unset=True),
    )
    return await profile(db, customer)


@router.post(
    "/{customer_id}/addresses",
    response_model=AddressOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
async def add_address(
    customer_id: uuid.UUID, body: AddressIn, principal: CustomerWrite, db: DbSession
) -> AddressOut:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    address = await service.add_address(db, customer=customer, data=body, actor=principal.actor)
    return AddressOut.model_validate(address)


@router.patch(
    "/{customer_id}/addresses/{address_id}", response_model=AddressOut, responses=NOT_FOUND
)
async def update_address(
    customer_id: uuid.UUID,
    address_id: uuid.UUID,
    body: AddressUpdate,
    principal: CustomerWrite,
    db: DbSession,
) -> AddressOut:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    address = await service.update_address(
        db,
        customer=customer,
        address_id=address_id,
        changes=body.model_dump(exclude_unset=True),
        actor=principal.actor,
    )
    return AddressOut.model_validate(address)


@router.delete(
    "/{customer_id}/addresses/{address_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
async def remove_address(
    customer_id: uuid.UUID, address_id: uuid.UUID, principal: CustomerWrite, db: DbSession
) -> None:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    await service.remove_address(
        db, customer=customer, address_id=address_id, actor=principal.actor
    )


@router.post(
    "/{customer_id}/emails",
    response_model=EmailOut,
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
    summary="Add another email address",
)
async def add_email(
    customer_id: uuid.UUID, body: ContactIn, principal: CustomerWrite, db: DbSession
) -> EmailOut:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    row = await service.add_email(
        db, customer=customer, email=body.value, label=body.label, actor=principal.actor
    )
    return EmailOut.model_validate(row)


@router.post(
    "/{customer_id}/phones",
    response_model=PhoneOut,
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
    summary="Add another phone number",
)
async def add_phone(
    customer_id: uuid.UUID, body: ContactIn, principal: CustomerWrite, db: DbSession
) -> PhoneOut:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    row = await service.add_phone(
        db, customer=customer, phone=body.value, label=body.label, actor=principal.actor
    )
    return PhoneOut.model_validate(row)


@router.delete(
    "/{customer_id}/contacts/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Remove another email address or phone number",
)
async def remove_contact(
    customer_id: uuid.UUID, contact_id: uuid.UUID, principal: CustomerWrite, db: DbSession
) -> None:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    await service.remove_contact(
        db, customer=customer, contact_id=contact_id, actor=principal.actor
    )


@router.post(
    "/{customer_id}/external-ids",
    response_model=ExternalIdOut,
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
    summary="Link the customer's ID in a store",
)
async def add_external_id(
    customer_id: uuid.UUID, body: ExternalIdIn, principal: CustomerWrite, db: DbSession
) -> ExternalIdOut:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    row = await service.add_external_id(db, customer=customer, data=body, actor=principal.actor)
    return ExternalIdOut.model_validate(row)


@router.put(
    "/{customer_id}/consents/{channel}",
    response_model=ConsentOut,
    responses=NOT_FOUND,
    summary="Record a consent decision for a channel and purpose",
)
async def set_consent(
    customer_id: uuid.UUID,
    channel: Annotated[str, Path(pattern="^(email|sms)$")],
    body: ConsentChange,
    principal: CustomerWrite,
    db: DbSession,
    purpose: str = PURPOSE,
) -> ConsentOut:
    customer = await repository.get_for(db, principal, customer_id, for_update=True)
    consent = await service.set_consent(
        db,
        customer=customer,
        actor=principal.actor,
        channel=channel,
        purpose=purpose,
        **body.model_dump(),
    )
    return ConsentOut.model_validate(consent)


@router.get(
    "/{customer_id}/consents/history",
    response_model=list[ConsentHistoryOut],
    responses=NOT_FOUND,
    summary="Every consent change, newest first",
)
async def consent_history(
    customer_id: uuid.UUID, principal: CustomerRead, db: DbSession
) -> list[ConsentHistoryOut]:
    customer = await repository.get_for(db, principal, customer_id)
    events = await repository.consent_history(db, customer.id)
    return [ConsentHistoryOut.model_validate(event) for event in events]
