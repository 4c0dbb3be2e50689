"""WooCommerce topics → the same order, customer and catalog handling as Shopify's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from patron.integrations.context import Context, Outcome
from patron.integrations.shopify import catalog, customers, orders
from patron.integrations.shopify import payloads as neutral
from patron.integrations.woocommerce import payloads
from patron.orders import repository as orders_repository
from patron.orders import service as order_service

Handler = Callable[[Context, dict[str, Any]], Awaitable[Outcome]]


async def _order(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await orders.sync_order(ctx, payloads.Order.model_validate(body).neutral())


async def _order_deleted(ctx: Context, body: dict[str, Any]) -> Outcome:
    """An order deleted (or trashed) in the store is cancelled here; its history stays."""
    data = neutral.Deleted.model_validate(body)
    await ctx.is_stale("order", str(data.id), None)
    order = await orders_repository.order_by_external_id(ctx.db, ctx.channel.id, str(data.id))
    if order is None:
        return Outcome("ignored", f"Order {data.id} was not known.")
    if order.cancelled_at is None:
        await order_service.cancel_order(
            ctx.db, ctx.settings, order, actor=ctx.actor, reason="deleted in the store"
        )
    return Outcome("processed", f"Order {order.number} cancelled (deleted in the store).")


async def _customer(ctx: Context, body: dict[str, Any]) -> Outcome:
    customer = await customers.upsert(ctx, payloads.Customer.model_validate(body).neutral())
    return Outcome("processed", f"Customer {customer.id} up to date.")


async def _customer_deleted(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await customers.delete(ctx, neutral.Deleted.model_validate(body))


async def _product(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await catalog.upsert_product(ctx, payloads.Product.model_validate(body).neutral())


async def _product_deleted(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await catalog.delete_product(ctx, neutral.Deleted.model_validate(body))


HANDLERS: dict[str, Handler] = {
    "order.created": _order,
    "order.updated": _order,
    "order.deleted": _order_deleted,
    "customer.created": _customer,
    "customer.updated": _customer,
    "customer.deleted": _customer_deleted,
    "product.created": _product,
    "product.updated": _product,
    "product.deleted": _product_deleted,
}


async def handle(ctx: Context, topic: str, body: dict[str, Any]) -> Outcome:
    handler = HANDLERS.get(topic)
    if handler is None:
        return Outcome("ignored", f"Topic {topic or '(none)'} is not used by Patron.")
    return await handler(ctx, body)
