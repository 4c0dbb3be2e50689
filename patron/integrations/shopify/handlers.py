"""Shopify topics → what Patron does with them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from patron.audit import service as audit
from patron.integrations.context import Context, Outcome
from patron.integrations.shopify import carts, catalog, customers, orders, payloads, privacy
from patron.integrations.shopify.topics import (
    CHECKOUT_TOPICS,
    CUSTOMER_TOPICS,
    FULFILLMENT_TOPICS,
    ORDER_TOPICS,
    PRODUCT_TOPICS,
)
from patron.kit.time import utcnow

Handler = Callable[[Context, dict[str, Any]], Awaitable[Outcome]]


async def _order(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await orders.sync_order(ctx, payloads.Order.model_validate(body))


async def _refund(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await orders.refund_created(ctx, payloads.Refund.model_validate(body))


async def _fulfilment(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await orders.fulfilment_changed(ctx, payloads.Fulfillment.model_validate(body))


async def _customer(ctx: Context, body: dict[str, Any]) -> Outcome:
    customer = await customers.upsert(ctx, payloads.Customer.model_validate(body))
    return Outcome("processed", f"Customer {customer.id} up to date.")


async def _customer_deleted(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await customers.delete(ctx, payloads.Deleted.model_validate(body))


async def _product(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await catalog.upsert_product(ctx, payloads.Product.model_validate(body))


async def _product_deleted(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await catalog.delete_product(ctx, payloads.Deleted.model_validate(body))


async def _inventory(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await catalog.inventory_changed(ctx, payloads.InventoryLevel.model_validate(body))


async def _checkout(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await carts.upsert_checkout(ctx, payloads.Checkout.model_validate(body))


async def _uninstalled(ctx: Context, body: dict[str, Any]) -> Outcome:
    connection = ctx.connection
    if connection.status != "uninstalled":
        previous = connection.status
        connection.status, connection.uninstalled_at = "uninstalled", utcnow()
        await ctx.db.flush()
        await audit.record_change(
            ctx.db,
            action="integration.uninstalled",
            actor=ctx.actor,
            object_type="store_connection",
            object_id=connection.id,
            before={"status": previous},
            after={"status": "uninstalled"},
        )
    return Outcome("processed", "The app was uninstalled; the connection stops taking orders.")


async def _data_request(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await privacy.data_request(ctx, payloads.PrivacyRequest.model_validate(body))


async def _redact_customer(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await privacy.redact_customer(ctx, payloads.PrivacyRequest.model_validate(body))


async def _redact_shop(ctx: Context, body: dict[str, Any]) -> Outcome:
    return await privacy.redact_shop(ctx, payloads.PrivacyRequest.model_validate(body))


def _table() -> dict[str, Handler]:
    table: dict[str, Handler] = {
        "refunds/create": _refund,
        "customers/delete": _customer_deleted,
        "products/delete": _product_deleted,
        "inventory_levels/update": _inventory,
        "app/uninstalled": _uninstalled,
        "customers/data_request": _data_request,
        "customers/redact": _redact_customer,
        "shop/redact": _redact_shop,
    }
    groups: list[tuple[frozenset[str], Handler]] = [
        (ORDER_TOPICS, _order),
        (FULFILLMENT_TOPICS, _fulfilment),
        (CUSTOMER_TOPICS, _customer),
        (PRODUCT_TOPICS, _product),
        (CHECKOUT_TOPICS, _checkout),
    ]
    for topics, handler in groups:
        table.update(dict.fromkeys(topics, handler))
    return table


HANDLERS = _table()


async def handle(ctx: Context, topic: str, body: dict[str, Any]) -> Outcome:
    handler = HANDLERS.get(topic)
    if handler is None:
        return Outcome("ignored", f"Topic {topic or '(none)'} is not used by Patron.")
    return await handler(ctx, body)
