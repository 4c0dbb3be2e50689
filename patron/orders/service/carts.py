"""Carts and checkouts from the stores; idle ones become abandoned, orders recover them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.customers import metrics
from patron.kit.contact import normalise_currency, normalise_email
from patron.kit.time import utcnow
from patron.kit.urls import check_http_url
from patron.models import Cart, Channel, Customer
from patron.orders import repository
from patron.orders.service.common import aware, cents, check_quantity, invalid, jsonable

CART_ITEM_FIELDS = ("product_id", "variant_id", "sku", "title", "quantity", "unit_price")


def _items(items: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], Decimal]:
    clean, value = [], Decimal("0")
    for index, item in enumerate(items):
        quantity = check_quantity(int(item.get("quantity", 0)), field=f"items.{index}.quantity")
        price = Decimal(str(item.get("unit_price") or 0))
        if price < 0:
            raise invalid(
                f"items.{index}.unit_price", "Prices cannot be negative.", "negative_amount"
            )
        value += price * quantity
        clean.append(
            jsonable(
                {key: item.get(key) for key in CART_ITEM_FIELDS} | {"unit_price": cents(price)}
            )
        )
    return clean, cents(value)


async def upsert_cart(
    db: AsyncSession,
    settings: Settings,
    *,
    channel: Channel,
    external_id: str,
    customer: Customer | None = None,
    email: str | None = None,
    items: Sequence[Mapping[str, Any]] = (),
    value: Decimal | None = None,
    currency: str | None = None,
    checkout_url: str = "",
    last_activity_at: datetime | None = None,
) -> tuple[Cart, bool]:
    """Create or update the cart a store knows by ``external_id``; returns (cart, created)."""
    if customer is None and not email:
        raise invalid(
            "customer_id",
            "A cart needs a customer or an email address.",
            "cart_needs_customer_or_email",
        )
    clean_email = normalise_email(email) if email else (customer.email if customer else None)
    clean_items, items_value = _items(items)
    activity = aware(last_activity_at) or utcnow()
    cart = await repository.cart_by_external_id(db, channel.id, external_id)
    created = cart is None
    if cart is None:
        cart = Cart(channel_id=channel.id, external_id=external_id, status="open")
        db.add(cart)
    previous_customer = cart.customer_id
    cart.customer_id = customer.id if customer else cart.customer_id
    cart.email = clean_email
    cart.items = clean_items
    cart.value = cents(value) if value is not None else items_value
    cart.currency = normalise_currency(currency or settings.currency)
    cart.checkout_url = (
        check_http_url(checkout_url, field="checkout_url", max_length=1000)
        if checkout_url.strip()
        else ""
    )
    if created or activity >= cart.last_activity_at:
        cart.last_activity_at = activity
    if cart.status == "abandoned" and cart.abandoned_at and activity > cart.abandoned_at:
        cart.status, cart.abandoned_at = "open", None
    await db.flush()
    await db.refresh(cart, ["created_at", "updated_at"])
    if cart.customer_id is not None and cart.customer_id != previous_customer:
        await metrics.refresh(db, settings, [cart.customer_id])
    return cart, created


async def mark_abandoned_carts(
    db: AsyncSession, settings: Settings, *, now: datetime | None = None
) -> int:
    """Open carts idle for longer than the configured time become abandoned."""
    idle_since = (now or utcnow()) - timedelta(minutes=settings.cart_abandoned_after_minutes)
    return await repository.mark_abandoned(db, idle_since=idle_since)
