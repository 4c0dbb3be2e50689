"""Shopify customers onto Patron's customers (through the customer service)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from patron.auth.principal import Principal
from patron.customers import repository as customers_repository
from patron.customers import service as customers
from patron.customers.schemas import AddressIn, ConsentIn, CustomerCreate, ExternalIdIn
from patron.errors import InvalidInput
from patron.integrations import repository
from patron.integrations.context import Context, Outcome
from patron.integrations.shopify import payloads
from patron.kit.contact import normalise_email, normalise_phone
from patron.kit.time import utcnow
from patron.models import Customer, Role, StaffUser
from patron.timeline.service import add_entry

CONSENT_STATES = {
    "subscribed": "subscribed",
    "unsubscribed": "unsubscribed",
    "pending": "pending",
    "not_subscribed": "never_asked",
}


def _system_principal() -> Principal:
    """Customers made by a store belong to nobody in particular (record scope "all")."""
    role = Role(name="system", record_scope="all", scopes=[])
    return Principal(user=StaffUser(email="system"), role=role, scopes=frozenset())


def clean_email(value: str) -> str | None:
    try:
        return normalise_email(value) if value.strip() else None
    except InvalidInput:
        return None


def _phone(value: str, region: str | None = None) -> str | None:
    try:
        return normalise_phone(value, region=region) if value.strip() else None
    except InvalidInput:
        return None


def address_in(address: payloads.Address | None) -> AddressIn | None:
    """A store address Patron can keep, or None (incomplete addresses are left out)."""
    if address is None:
        return None
    try:
        return AddressIn(
            first_name=address.first_name[:100],
            last_name=address.last_name[:100],
            company=address.company[:200],
            line1=address.address1[:200],
            line2=address.address2[:200],
            city=address.city[:100],
            region=address.province[:100],
            postal_code=address.zip[:20],
            country=address.country_code,
            phone=_phone(address.phone, address.country_code or None),
        )
    except ValidationError:
        return None


async def _lookup(
    ctx: Context, external_id: int | None, email: str | None
) -> tuple[Customer | None, bool]:
    """The customer by their Shopify ID, else by email; and whether the ID already links
    to them."""
    customer = None
    if external_id is not None:
        customer = await customers_repository.by_external_id(
            ctx.db, ctx.channel.id, str(external_id)
        )
    linked = customer is not None
    if customer is None and email:
        customer = await customers_repository.by_email(ctx.db, email)
    return customer, linked


async def find(ctx: Context, external_id: int | None, email: str | None) -> Customer | None:
    return (await _lookup(ctx, external_id, email))[0]


async def _create(
    ctx: Context,
    *,
    external_id: int | None,
    email: str | None,
    first_name: str,
    last_name: str,
    phone: str | None,
    tags: list[str],
    address: AddressIn | None,
    consent: str | None,
) -> Customer:
    data = CustomerCreate(
        first_name=first_name[:100],
        last_name=last_name[:100],
        email=email,
        phone=phone,
        tags=tags[:50],
        source=ctx.connection.name[:100],
        addresses=[address] if address else [],
        external_ids=(
            [ExternalIdIn(channel_id=ctx.channel.id, external_id=str(external_id))]
            if external_id is not None
            else []
        ),
        consents=(
            [ConsentIn(channel="email", status=consent, source=ctx.connection.provider)]
            if consent and email
            else []
        ),
    )
    return await customers.create_customer(
        ctx.db, ctx.settings, principal=_system_principal(), data=data, actor=ctx.actor
    )


async def upsert(ctx: Context, data: payloads.Customer) -> Customer:
    """Find the customer by their Shopify ID or email, then create or update them; a
    version older than the one applied changes nothing."""
    email = clean_email(data.email)
    consent = CONSENT_STATES.get(
        data.email_marketing_consent.state if data.email_marketing_consent else ""
    )
    address = address_in(data.default_address)
    stale = await ctx.is_stale("customer", str(data.id), data.updated_at)
    customer, linked = await _lookup(ctx, data.id, email)
    if customer is None:
        customer = await _create(
            ctx,
            external_id=data.id,
            email=email,
            first_name=data.first_name,
            last_name=data.last_name,
            phone=_phone(data.phone),
            tags=payloads.tag_list(data.tags),
            address=address,
            consent=consent,
        )
    elif not stale:
        if not linked:  # found by email: the Shopify ID is nobody's yet
            await customers.add_external_id(
                ctx.db,
                customer=customer,
                data=ExternalIdIn(channel_id=ctx.channel.id, external_id=str(data.id)),
                actor=ctx.actor,
            )
        await _update(ctx, customer, data, email=email, consent=consent)
    await ctx.applied("customer", str(data.id), data.updated_at)
    return customer


async def _update(
    ctx: Context,
    customer: Customer,
    data: payloads.Customer,
    *,
    email: str | None,
    consent: str | None,
) -> None:
    changes: dict[str, Any] = {}
    if data.first_name and data.first_name != customer.first_name:
        changes["first_name"] = data.first_name[:100]
    if data.last_name and data.last_name != customer.last_name:
        changes["last_name"] = data.last_name[:100]
    phone = _phone(data.phone)
    if phone and phone != customer.phone:
        changes["phone"] = phone
    if (
        email
        and email != customer.email
        and await customers_repository.id_by_email(ctx.db, email) is None
    ):
        changes["email"] = email
    tags = [t for t in payloads.tag_list(data.tags) if t not in customer.tags]
    if tags:
        changes["tags"] = [*customer.tags, *tags][:50]
    if changes:
        await customers.update_customer(
            ctx.db, ctx.settings, actor=ctx.actor, customer=customer, changes=changes
        )
    if consent and customer.email:
        await customers.set_consent(
            ctx.db,
            customer=customer,
            actor=ctx.actor,
            channel="email",
            status=consent,
            source=ctx.connection.provider,
        )


async def for_order(ctx: Context, order: payloads.Order) -> Customer:
    """The order's customer: the Shopify customer, else the order's email, else a customer
    made from the billing address."""
    if order.customer is not None:
        if not order.customer.email and order.email:
            order.customer.email = order.email
        return await upsert(ctx, order.customer)
    email = clean_email(order.email)
    customer = await find(ctx, None, email)
    if customer is not None:
        return customer
    billing = order.billing_address or order.shipping_address
    return await _create(
        ctx,
        external_id=None,
        email=email,
        first_name=billing.first_name if billing else "",
        last_name=billing.last_name if billing else "",
        phone=None,
        tags=[],
        address=address_in(billing),
        consent=None,
    )


async def delete(ctx: Context, data: payloads.Deleted) -> Outcome:
    """The shop deleted the customer: Patron keeps its record (orders, history) but forgets
    the link to the store; erasure is a separate, explicit request (customers/redact)."""
    await ctx.is_stale("customer", str(data.id), None)
    customer = await find(ctx, data.id, None)
    # later, delayed updates of the deleted customer must not bring the link back
    await ctx.applied("customer", str(data.id), utcnow())
    if customer is None:
        return Outcome("ignored", f"Customer {data.id} was not known.")
    await repository.unlink_customer(ctx.db, channel_id=ctx.channel.id, external_id=str(data.id))
    await add_entry(
        ctx.db,
        customer_id=customer.id,
        kind="profile",
        summary=f"Deleted in {ctx.connection.name}; the link to the store was removed",
        actor=ctx.actor,
        data={"channel_id": str(ctx.channel.id), "external_id": str(data.id)},
    )
    return Outcome("processed", f"Customer {customer.id} unlinked from the store.")
