"""Shopify checkouts onto Patron's carts (abandoned-cart recovery)."""

from __future__ import annotations

from patron.integrations.context import Context, Outcome
from patron.integrations.shopify import customers, payloads
from patron.orders import service as orders


async def upsert_checkout(ctx: Context, data: payloads.Checkout) -> Outcome:
    if await ctx.is_stale("checkout", str(data.id), data.updated_at):
        return Outcome("processed", f"Checkout {data.id}: already at this version or newer.")
    email = customers.clean_email(data.email or (data.customer.email if data.customer else ""))
    customer = await customers.find(ctx, data.customer.id if data.customer else None, email)
    if customer is None and email is None:
        return Outcome("ignored", f"Checkout {data.id} has no email or known customer yet.")
    cart, created = await orders.upsert_cart(
        ctx.db,
        ctx.settings,
        channel=ctx.channel,
        external_id=str(data.id),
        customer=customer,
        email=email,
        items=[
            {
                "title": line.title,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.price,
            }
            for line in data.line_items
        ],
        value=data.total_price,
        currency=(data.currency or ctx.settings.currency).upper(),
        checkout_url=data.abandoned_checkout_url[:1000],
        last_activity_at=data.updated_at,
    )
    await ctx.applied("checkout", str(data.id), data.updated_at)
    return Outcome("processed", f"Cart {cart.id} {'created' if created else 'updated'}.")
