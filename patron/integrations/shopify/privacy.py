"""Shopify's mandatory privacy topics, acted upon through Patron's privacy requests.

``customers/data_request`` queues an export the shop owner downloads from the privacy page
and hands over; ``customers/redact`` queues the erasure of the matching customer and the
anonymisation of the orders it names; ``shop/redact`` queues the erasure of the store's data.
Once acted upon, the delivery's own body (which names the person) is emptied.
"""

from __future__ import annotations

from patron.integrations.context import Context, Outcome
from patron.integrations.shopify import payloads
from patron.integrations.shopify.customers import clean_email, find
from patron.privacy import erasure, repository, service
from patron.privacy.scrub import Needles


def _customer_keys(request: payloads.PrivacyRequest) -> tuple[int | None, str | None]:
    who = request.customer or {}
    raw_id = who.get("id")
    external_id = int(raw_id) if isinstance(raw_id, int | str) and str(raw_id).isdigit() else None
    raw_email = who.get("email")
    return external_id, clean_email(raw_email) if isinstance(raw_email, str) else None


async def _forget_body(ctx: Context) -> None:
    if ctx.receipt_id is not None:
        await erasure.scrub_receipt(ctx.db, ctx.receipt_id)


async def data_request(ctx: Context, request: payloads.PrivacyRequest) -> Outcome:
    external_id, email = _customer_keys(request)
    customer = await find(ctx, external_id, email)
    await _forget_body(ctx)
    if customer is None or customer.erased_at is not None:
        return Outcome("processed", "No customer matches the data request; Patron holds nothing.")
    queued = await service.request_export(
        ctx.db,
        customer=customer,
        actor=ctx.actor,
        source="shopify",
        connection_id=ctx.connection.id,
    )
    return Outcome("processed", f"Export {queued.id} queued for customer {customer.id}.")


async def redact_customer(ctx: Context, request: payloads.PrivacyRequest) -> Outcome:
    external_id, email = _customer_keys(request)
    customer = await find(ctx, external_id, email)
    order_ids = [str(order_id) for order_id in request.orders_to_redact]
    await _forget_body(ctx)
    if customer is None or customer.erased_at is not None:
        orders = await repository.store_orders(ctx.db, ctx.channel.id, order_ids)
        count = await erasure.anonymise_orders(ctx.db, orders, Needles())
        return Outcome("processed", f"No customer to erase; {count} named orders anonymised.")
    queued = await service.request_erasure(
        ctx.db,
        customer=customer,
        actor=ctx.actor,
        source="shopify",
        confirmed=True,
        connection_id=ctx.connection.id,
        store_order_ids=order_ids,
    )
    return Outcome("processed", f"Erasure {queued.id} queued for customer {customer.id}.")


async def redact_shop(ctx: Context, request: payloads.PrivacyRequest) -> Outcome:
    queued = await service.request_shop_erasure(ctx.db, connection=ctx.connection, actor=ctx.actor)
    return Outcome("processed", f"Erasure {queued.id} of the store's data queued.")
