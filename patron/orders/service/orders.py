"""Placing, changing and cancelling orders; the customer's tracking link."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import rollups
from patron.audit import service as audit
from patron.audit.service import Actor
from patron.catalog import repository as catalog_repository
from patron.catalog.service import restock, take_stock
from patron.config import Settings
from patron.customers import metrics
from patron.errors import Conflict
from patron.kit.contact import normalise_country, normalise_currency, normalise_phone
from patron.kit.custom_fields import validate_custom_fields
from patron.kit.time import utcnow
from patron.models import Channel, Customer, Order, OrderLine, ProductVariant
from patron.orders import repository
from patron.orders.service.common import (
    aware,
    cents,
    check_quantity,
    invalid,
    jsonable,
    money,
    refresh_financial_status,
)
from patron.segments.changes import mark_customers_changed
from patron.timeline.service import add_entry

TRACKING_SALT = "order-tracking"
MAX_NUMBER_TRIES = 20
ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)
EDITABLE = ("note", "tags", "billing_address", "shipping_address", "custom_fields")
# These stores keep the stock count and send it to Patron; Patron counts the rest itself.
STORE_MANAGED_STOCK = ("shopify", "woocommerce")


@dataclass
class LineRequest:
    """One line as a caller describes it; gaps are filled from the variant or product."""

    quantity: int
    product_id: uuid.UUID | None = None
    variant_id: uuid.UUID | None = None
    title: str | None = None
    variant_title: str | None = None
    sku: str | None = None
    unit_price: Decimal | None = None
    discount_total: Decimal = Decimal("0")
    position: int | None = None  # default: its index among the lines


@dataclass
class PaymentRequest:
    gateway: str
    amount: Decimal
    currency: str | None = None
    status: str = "succeeded"
    kind: str = "sale"
    reference: str = ""
    external_id: str | None = None
    processed_at: datetime | None = None


# -- tracking ------------------------------------------------------------------------------


def _tracking_serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key.get_secret_value(), salt=TRACKING_SALT)


def tracking_token(settings: Settings, order_id: uuid.UUID) -> str:
    return str(_tracking_serializer(settings).dumps(str(order_id)))


def tracking_url(settings: Settings, order: Order) -> str:
    """The customer's link to follow this order; signed, so it cannot be guessed or altered."""
    return f"{settings.base_url}/track/{tracking_token(settings, order.id)}"


def order_id_from_token(settings: Settings, token: str) -> uuid.UUID | None:
    try:
        value = _tracking_serializer(settings).loads(token)
        return uuid.UUID(str(value))
    except (BadSignature, ValueError, TypeError):
        return None


# -- placing an order ----------------------------------------------------------------------


def normalise_address(address: Mapping[str, Any] | None, *, field: str) -> dict[str, Any] | None:
    if address is None:
        return None
    clean = {key: (address.get(key) or "") for key in ADDRESS_FIELDS}
    clean = {
        key: value.strip() if isinstance(value, str) else value for key, value in clean.items()
    }
    for required in ("line1", "city", "country"):
        if not clean[required]:
            raise invalid(f"{field}.{required}", f"{required} is required.", "invalid_address")
    clean["country"] = normalise_country(clean["country"], field=f"{field}.country")
    clean["phone"] = (
        normalise_phone(clean["phone"], region=clean["country"], field=f"{field}.phone")
        if clean["phone"]
        else None
    )
    return clean


async def build_lines(
    db: AsyncSession, requests: Sequence[LineRequest], *, currency: str
) -> list[OrderLine]:
    if not requests:
        raise invalid("lines", "An order needs at least one line.", "invalid_line")
    variants = await catalog_repository.variants_by_ids(
        db, {r.variant_id for r in requests if r.variant_id}
    )
    products = await catalog_repository.products_by_ids(
        db,
        {r.product_id for r in requests if r.product_id}
        | {v.product_id for v in variants.values()},
    )
    lines = []
    for position, request in enumerate(requests):
        where = f"lines.{position}"
        check_quantity(request.quantity, field=f"{where}.quantity")
        variant: ProductVariant | None = None
        if request.variant_id is not None:
            variant = variants.get(request.variant_id)
            if variant is None:
                raise invalid(f"{where}.variant_id", "There is no such variant.", "unknown_variant")
            if request.product_id is not None and request.product_id != variant.product_id:
                raise invalid(
                    f"{where}.product_id",
                    "The variant belongs to another product.",
                    "variant_product_mismatch",
                )
        product_id = variant.product_id if variant else request.product_id
        product = products.get(product_id) if product_id else None
        if product_id is not None and product is None:
            raise invalid(f"{where}.product_id", "There is no such product.", "unknown_product")
        title = request.title or (product.title if product else None)
        if not title:
            raise invalid(
                f"{where}.title", "A line without a product needs a title.", "invalid_line"
            )
        unit_price = request.unit_price
        if unit_price is None and variant is not None and variant.currency == currency:
            unit_price = variant.price
        if unit_price is None:
            raise invalid(f"{where}.unit_price", "Give the line's unit price.", "invalid_line")
        if unit_price < 0 or request.discount_total < 0:
            raise invalid(f"{where}.unit_price", "Amounts cannot be negative.", "negative_amount")
        gross = cents(unit_price * request.quantity)
        if request.discount_total > gross:
            raise invalid(
                f"{where}.discount_total",
                "The discount is larger than the line.",
                "discount_exceeds_line",
            )
        lines.append(
            OrderLine(
                product_id=product_id,
                variant_id=variant.id if variant else None,
                title=title.strip()[:255],
                variant_title=(
                    request.variant_title
                    if request.variant_title is not None
                    else (variant.title if variant and variant.title != "Default" else "")
                ),
                sku=request.sku if request.sku is not None else (variant.sku if variant else ""),
                unit_price=cents(unit_price),
                quantity=request.quantity,
                discount_total=cents(request.discount_total),
                total=gross - cents(request.discount_total),
                position=position if request.position is None else request.position,
            )
        )
    return lines


async def _number(
    db: AsyncSession,
    channel_id: uuid.UUID | None,
    number: str | None,
    *,
    taken: bool | None = None,
) -> str:
    """The order's number: the one given (``taken`` says whether it is used, when already
    known), else the next free one from the sequence."""
    if number is not None:
        number = number.strip()
        if not number:
            raise invalid("number", "The order number cannot be blank.", "invalid_number")
        if taken is None:
            taken = await repository.number_taken(db, channel_id, number)
        if taken:
            raise Conflict(
                f"Order number {number} is already used in this channel.",
                code="duplicate_order_number",
                details=[{"field": "number", "message": "already used"}],
            )
        return number
    for _ in range(MAX_NUMBER_TRIES):
        candidate = str(await repository.next_order_number(db))
        if not await repository.number_taken(db, channel_id, candidate):
            return candidate
    raise Conflict("Could not find a free order number; give one.", code="duplicate_order_number")


def _exchange_rate(settings: Settings, currency: str, rate: Decimal | None) -> Decimal:
    if currency == settings.currency:
        return Decimal("1")
    if rate is None:
        raise invalid(
            "exchange_rate",
            f"Orders in {currency} need the exchange rate to {settings.currency}.",
            "exchange_rate_required",
        )
    if rate <= 0:
        raise invalid(
            "exchange_rate", "The exchange rate must be positive.", "invalid_exchange_rate"
        )
    return rate


def _codes(codes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(code.strip().upper() for code in codes if code.strip()))


def _tags(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))


def snapshot(order: Order) -> dict[str, Any]:
    return jsonable(
        {
            "number": order.number,
            "customer_id": order.customer_id,
            "channel_id": order.channel_id,
            "currency": order.currency,
            "total": order.total,
            "note": order.note,
            "tags": list(order.tags),
            "billing_address": order.billing_address,
            "shipping_address": order.shipping_address,
            "custom_fields": dict(order.custom_fields),
        }
    )


async def place_order(
    db: AsyncSession,
    settings: Settings,
    *,
    actor: Actor,
    customer: Customer,
    lines: Sequence[LineRequest],
    channel: Channel | None = None,
    number: str | None = None,
    external_id: str | None = None,
    placed_at: datetime | None = None,
    currency: str | None = None,
    exchange_rate: Decimal | None = None,
    discounts: Sequence[tuple[str, Decimal]] = (),
    shipping_total: Decimal = Decimal("0"),
    tax_total: Decimal = Decimal("0"),
    total: Decimal | None = None,
    billing_address: Mapping[str, Any] | None = None,
    shipping_address: Mapping[str, Any] | None = None,
    note: str = "",
    tags: Iterable[str] = (),
    custom_fields: Mapping[str, Any] | None = None,
    payments: Sequence[PaymentRequest] = (),
    source_updated_at: datetime | None = None,
) -> Order:
    """Record an order: totals are computed here, and a client's ``total`` must agree.
    ``source_updated_at`` is the version of the order a store sent (for later deliveries)."""
    from patron.orders.service.payments import record_payment

    channel_id = channel.id if channel else None
    currency = normalise_currency(currency or settings.currency)
    rate = _exchange_rate(settings, currency, exchange_rate)
    number_taken = None
    if external_id is not None:
        clashes = await repository.clashes(
            db,
            channel_id,
            external_id=external_id.strip(),
            number=number.strip() if number is not None and number.strip() else None,
        )
        existing, number_taken = clashes.same_external_id, clashes.number_taken
        if existing is not None:
            raise Conflict(
                f"Order {existing.number} ({existing.id}) already has this external ID.",
                code="duplicate_external_id",
                details=[{"field": "external_id", "message": "already used"}],
            )
    order_lines = await build_lines(db, lines, currency=currency)
    if any(amount < 0 for _, amount in discounts) or shipping_total < 0 or tax_total < 0:
        raise invalid("discounts", "Amounts cannot be negative.", "negative_amount")
    subtotal = sum((line.unit_price * line.quantity for line in order_lines), Decimal("0"))
    discount_total = cents(
        sum((line.discount_total for line in order_lines), Decimal("0"))
        + sum((amount for _, amount in discounts), Decimal("0"))
    )
    computed = cents(subtotal) - discount_total + cents(shipping_total) + cents(tax_total)
    if computed < 0:
        raise invalid(
            "discounts", "The discounts exceed the order's value.", "discount_exceeds_subtotal"
        )
    if total is not None and cents(total) != computed:
        raise invalid(
            "total",
            f"The total should be {computed} (lines − discounts + shipping + tax), not {total}.",
            "total_mismatch",
        )
    order = Order(
        number=await _number(db, channel_id, number, taken=number_taken),
        customer_id=customer.id,
        channel_id=channel_id,
        external_id=external_id.strip() if external_id else None,
        placed_at=aware(placed_at) or utcnow(),
        currency=currency,
        exchange_rate=rate,
        subtotal=cents(subtotal),
        discount_total=discount_total,
        shipping_total=cents(shipping_total),
        tax_total=cents(tax_total),
        total=computed,
        items_count=sum(line.quantity for line in order_lines),
        discount_codes=_codes(code for code, _ in discounts),
        billing_address=normalise_address(billing_address, field="billing_address"),
        shipping_address=normalise_address(shipping_address, field="shipping_address"),
        note=note,
        tags=_tags(tags),
        custom_fields=await validate_custom_fields(db, entity="order", values=custom_fields or {}),
        source_updated_at=source_updated_at,
    )
    db.add(order)
    await db.flush()
    for line in order_lines:
        line.order_id = order.id
    db.add_all(order_lines)
    await db.flush()
    if channel is None or channel.kind not in STORE_MANAGED_STOCK:
        sold: dict[uuid.UUID, int] = {}
        for line in order_lines:
            if line.variant_id is not None:
                sold[line.variant_id] = sold.get(line.variant_id, 0) + line.quantity
        await take_stock(db, sold)
    await add_entry(
        db,
        customer_id=customer.id,
        order_id=order.id,
        kind="order_placed",
        summary=f"Placed order {order.number} — {money(order.total, currency)}",
        actor=actor,
        data=jsonable(
            {
                "number": order.number,
                "total": order.total,
                "currency": currency,
                "items": order.items_count,
                "channel_id": channel_id,
            }
        ),
        occurred_at=order.placed_at,
    )
    await audit.record(
        db,
        action="order.created",
        actor=actor,
        object_type="order",
        object_id=order.id,
        details=snapshot(order),
    )
    for index, payment in enumerate(payments):
        await record_payment(
            db,
            order,
            actor=actor,
            gateway=payment.gateway,
            amount=payment.amount,
            currency=payment.currency,
            status=payment.status,
            kind=payment.kind,
            reference=payment.reference,
            external_id=payment.external_id,
            processed_at=payment.processed_at,
            field_prefix=f"payments.{index}.",
        )
    # a new order without payments has none in the database either
    await refresh_financial_status(
        db, order, actor=actor, totals=None if payments else repository.NO_PAYMENTS
    )
    await repository.mark_recovered(db, order=order, email=customer.email)
    await metrics.refresh(db, settings, [customer.id])
    await rollups.refresh_orders(db, [order.id])
    return order


# -- changing and cancelling ---------------------------------------------------------------


async def update_order(
    db: AsyncSession, order: Order, *, actor: Actor, changes: Mapping[str, Any]
) -> Order:
    """Change the note, tags, address snapshots or custom fields (replaced as a whole)."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise invalid(sorted(unknown)[0], "This field cannot be changed.", "unknown_field")
    before = snapshot(order)
    for key, value in changes.items():
        if value is None and key not in ("billing_address", "shipping_address"):
            raise invalid(key, f"{key} cannot be null.", "null_not_allowed")
    if "note" in changes:
        order.note = changes["note"]
    if "tags" in changes:
        order.tags = _tags(changes["tags"])
    for key in ("billing_address", "shipping_address"):
        if key in changes:
            setattr(order, key, normalise_address(changes[key], field=key))
    if "custom_fields" in changes:
        order.custom_fields = await validate_custom_fields(
            db, entity="order", values=changes["custom_fields"]
        )
    await db.flush()
    await db.refresh(order, ["updated_at"])
    await audit.record_change(
        db,
        action="order.updated",
        actor=actor,
        object_type="order",
        object_id=order.id,
        before=before,
        after=snapshot(order),
    )
    await mark_customers_changed(db, [order.customer_id])
    return order


async def cancel_order(
    db: AsyncSession,
    settings: Settings,
    order: Order,
    *,
    actor: Actor,
    reason: str = "",
    restock_items: bool = False,
) -> Order:
    """Cancel an order; it stops counting in the customer's figures. Refunds are separate."""
    await repository.lock_order(db, order)
    if order.cancelled_at is not None:
        raise Conflict(
            f"Order {order.number} is already cancelled.", code="order_already_cancelled"
        )
    order.cancelled_at = utcnow()
    order.cancel_reason = reason.strip()[:200]
    if restock_items:
        quantities: dict[uuid.UUID, int] = {}
        for line in await repository.lines_of(db, order.id):
            if line.variant_id is not None:
                quantities[line.variant_id] = quantities.get(line.variant_id, 0) + line.quantity
        await restock(db, quantities)
    await db.flush()
    await db.refresh(order, ["updated_at"])
    summary = f"Cancelled order {order.number}" + (f": {order.cancel_reason}" if reason else "")
    await add_entry(
        db,
        customer_id=order.customer_id,
        order_id=order.id,
        kind="order_cancelled",
        summary=summary,
        actor=actor,
        data={"number": order.number, "reason": order.cancel_reason, "restock": restock_items},
    )
    await audit.record(
        db,
        action="order.cancelled",
        actor=actor,
        object_type="order",
        object_id=order.id,
        details={"reason": order.cancel_reason, "restock": restock_items},
    )
    await metrics.refresh(db, settings, [order.customer_id])
    await rollups.refresh_orders(db, [order.id])
    return order
