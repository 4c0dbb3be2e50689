"""Stripe customers onto Patron's customers: found by their Stripe id (an external id on the
connection's channel), else by email; made when neither is known."""

from __future__ import annotations

from typing import Any

from patron.customers import repository as customers_repository
from patron.customers import service as customers
from patron.customers.schemas import CustomerCreate, ExternalIdIn
from patron.errors import InvalidInput
from patron.integrations.context import Context, Outcome
from patron.integrations.shopify.customers import _system_principal, clean_email
from patron.integrations.stripe import payloads
from patron.kit.contact import normalise_phone
from patron.models import Customer


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first[:100], last.strip()[:100]


def _phone(value: str) -> str | None:
    try:
        return normalise_phone(value) if value.strip() else None
    except InvalidInput:
        return None


async def find(ctx: Context, stripe_id: str | None, email: str | None) -> Customer | None:
    customer_id = None
    if stripe_id:
        customer_id = await customers_repository.id_by_external_id(
            ctx.db, ctx.channel.id, stripe_id
        )
        if customer_id is not None:
            customer_id = await customers_repository.resolve_id(ctx.db, customer_id)
    if customer_id is None and email:
        customer_id = await customers_repository.id_by_email(ctx.db, email)
    return await ctx.db.get(Customer, customer_id) if customer_id else None


async def link(ctx: Context, customer: Customer, stripe_id: str | None) -> None:
    """Remember the Stripe customer id on the customer, unless someone holds it already."""
    if not stripe_id:
        return
    holder = await customers_repository.id_by_external_id(ctx.db, ctx.channel.id, stripe_id)
    if holder is None:
        await customers.add_external_id(
            ctx.db,
            customer=customer,
            data=ExternalIdIn(channel_id=ctx.channel.id, external_id=stripe_id),
            actor=ctx.actor,
        )


async def create(
    ctx: Context, *, stripe_id: str | None, email: str | None, name: str, phone: str = ""
) -> Customer:
    first, last = split_name(name)
    data = CustomerCreate(
        first_name=first,
        last_name=last,
        email=email,
        phone=_phone(phone),
        source=ctx.connection.name[:100],
        external_ids=(
            [ExternalIdIn(channel_id=ctx.channel.id, external_id=stripe_id)] if stripe_id else []
        ),
    )
    return await customers.create_customer(
        ctx.db, ctx.settings, principal=_system_principal(), data=data, actor=ctx.actor
    )


async def upsert(ctx: Context, event: payloads.Event) -> Outcome:
    """customer.created / customer.updated; an event older than the one applied changes
    nothing (Stripe customers carry no update time: the event's ``created`` orders them)."""
    data = payloads.Customer.model_validate(event.object)
    email = clean_email(data.email)
    stale = await ctx.is_stale("customer", data.id, event.at)
    customer = await find(ctx, data.id, email)
    if customer is None:
        if not (email or data.name.strip() or _phone(data.phone)):
            return Outcome("ignored", f"Stripe customer {data.id} has no name, email or phone.")
        customer = await create(
            ctx, stripe_id=data.id, email=email, name=data.name, phone=data.phone
        )
    elif not stale:
        await link(ctx, customer, data.id)
        await _update(ctx, customer, data, email=email)
    await ctx.applied("customer", data.id, event.at)
    return Outcome("processed", f"Customer {customer.id} up to date with Stripe {data.id}.")


async def _update(
    ctx: Context, customer: Customer, data: payloads.Customer, *, email: str | None
) -> None:
    first, last = split_name(data.name)
    wanted = {"first_name": first, "last_name": last, "phone": _phone(data.phone)}
    changes: dict[str, Any] = {
        name: value for name, value in wanted.items() if value and value != getattr(customer, name)
    }
    email_taken = email and await customers_repository.id_by_email(ctx.db, email) is not None
    if email and email != customer.email and not email_taken:
        changes["email"] = email
    if changes:
        await customers.update_customer(
            ctx.db, ctx.settings, actor=ctx.actor, customer=customer, changes=changes
        )
