"""Orders import: one row per line item, grouped by order number (Shopify's layout).

The order is upserted by (channel, number); each line is keyed by its file row, so a replayed
or resumed batch never adds a line twice, and an order whose lines span two batches is whole.
The customer is found by email (or created), and their metrics are recomputed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import rollups
from patron.config import Settings
from patron.customers import metrics
from patron.errors import CRMError
from patron.imports import values
from patron.imports.entities import BaseHandler, Written
from patron.imports.rows import Context, RowError, RowInvalid, _Collector, cells_of
from patron.kit.contact import normalise_currency
from patron.kit.ids import new_id
from patron.models import ImportJob
from patron.models.orders import FINANCIAL_STATUSES, FULFILLMENT_STATUSES

_AMOUNTS = ("subtotal", "discount_total", "shipping_total", "tax_total", "total")


@dataclass(slots=True)
class OrderRecord:
    row: int
    number: str
    email: str | None = None
    customer_name: str = ""
    placed_at: datetime | None = None
    currency: str = "USD"
    financial_status: str | None = None
    fulfillment_status: str | None = None
    amounts: dict[str, Decimal] = field(default_factory=dict)
    discount_codes: list[str] = field(default_factory=list)
    line_sku: str = ""
    line_title: str = ""
    line_quantity: int = 1
    line_unit_price: Decimal | None = None
    note: str = ""
    tags: list[str] = field(default_factory=list)
    external_id: str | None = None


_STATUS_ALIASES = {"partially_fulfilled": "partial", "restocked": "unfulfilled"}


def _choice(allowed: tuple[str, ...], label: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        word = value.strip().lower().replace(" ", "_")
        word = _STATUS_ALIASES.get(word, word)
        if word not in allowed:
            raise values.CellError("invalid_status", f"{value!r} is not a {label}")
        return word

    return parse


def _currency(value: str) -> str:
    try:
        return normalise_currency(value)
    except CRMError as error:
        raise values.CellError(error.code, error.message) from None


def validate(context: Context, number: int, row: list[str], currency: str) -> OrderRecord:
    cells = cells_of(context, row)
    c = _Collector(number, cells)
    order_number = c.take("number", lambda v: values.text(v, 40)) or ""
    record = OrderRecord(row=number, number=order_number, currency=currency)
    record.email = c.take("email", values.email)
    record.customer_name = c.take("customer_name", lambda v: values.text(v, 200)) or ""
    record.placed_at = c.take("placed_at", lambda v: values.parse_datetime(v, context.date_order))
    record.currency = c.take("currency", _currency) or currency
    record.financial_status = c.take(
        "financial_status", _choice(FINANCIAL_STATUSES, "financial status")
    )
    record.fulfillment_status = c.take(
        "fulfillment_status", _choice(FULFILLMENT_STATUSES, "fulfilment status")
    )
    for name in _AMOUNTS:
        amount = c.take(name, partial(values.amount, field=name))
        if amount is not None:
            record.amounts[name] = amount
    record.discount_codes = c.take("discount_codes", values.tags) or []
    record.line_sku = c.take("line_sku", lambda v: values.text(v, 100)) or ""
    record.line_title = c.take("line_title", lambda v: values.text(v, 255)) or ""
    record.line_quantity = c.take("line_quantity", lambda v: values.quantity(v, minimum=1)) or 1
    record.line_unit_price = c.take("line_unit_price", lambda v: values.amount(v, "unit price"))
    record.note = c.take("note", lambda v: values.text(v, 5000)) or ""
    record.tags = c.take("tags", values.tags) or []
    record.external_id = c.take("external_id", lambda v: values.text(v, 200))
    if not order_number:
        c.missing("number", "The order number is missing")
    if (record.line_title or record.line_sku) and record.line_unit_price is None:
        c.missing("line_unit_price", "A line item needs a unit price")
    if c.errors:
        raise RowInvalid(c.errors)
    return record


_CUSTOMER = text("SELECT id FROM customer WHERE email = :email AND merged_into_id IS NULL")
_NEW_CUSTOMER = text(
    """
    INSERT INTO customer (id, email, first_name, last_name, source, created_at, updated_at)
    VALUES (:id, :email, :first, :last, 'import', now(), now())
    ON CONFLICT (email) WHERE merged_into_id IS NULL AND email IS NOT NULL
    DO UPDATE SET updated_at = customer.updated_at
    RETURNING id
    """
)
_ORDER = text(
    """
    INSERT INTO shop_order AS o (
        id, number, customer_id, channel_id, external_id, placed_at, financial_status,
        fulfillment_status, currency, subtotal, discount_total, shipping_total, tax_total,
        total, discount_codes, note, tags, created_at, updated_at)
    VALUES (:id, :number, :customer_id, :channel_id, :external_id, coalesce(:placed_at, now()),
        coalesce(:financial, 'pending'), coalesce(:fulfillment, 'unfulfilled'), :currency,
        coalesce(:subtotal, 0), coalesce(:discount_total, 0), coalesce(:shipping_total, 0),
        coalesce(:tax_total, 0), coalesce(:total, 0), :codes, :note, :tags, now(), now())
    ON CONFLICT (channel_id, number) DO UPDATE SET
        financial_status = coalesce(:financial, o.financial_status),
        fulfillment_status = coalesce(:fulfillment, o.fulfillment_status),
        placed_at = coalesce(:placed_at, o.placed_at),
        subtotal = coalesce(:subtotal, o.subtotal),
        discount_total = coalesce(:discount_total, o.discount_total),
        shipping_total = coalesce(:shipping_total, o.shipping_total),
        tax_total = coalesce(:tax_total, o.tax_total),
        total = coalesce(:total, o.total),
        updated_at = now()
    RETURNING id, customer_id, (xmax = 0) AS inserted
    """
)
_LINE = text(
    """
    INSERT INTO order_line (id, order_id, product_id, variant_id, title, variant_title, sku,
                            unit_price, quantity, discount_total, total, position)
    SELECT :id, :order_id, v.product_id, v.id, :title, coalesce(v.title, ''), :sku, :price,
           :quantity, 0, :price * :quantity, :position
    FROM (SELECT 1) one
    LEFT JOIN product_variant v ON v.sku = :sku AND :sku <> ''
    WHERE NOT EXISTS (SELECT 1 FROM order_line WHERE order_id = :order_id AND position = :position)
    """
)
_TOTALS = text(
    """
    UPDATE shop_order o SET
        items_count = l.items,
        subtotal = CASE WHEN o.subtotal = 0 THEN l.amount ELSE o.subtotal END,
        total = CASE WHEN o.total = 0 THEN l.amount ELSE o.total END
    FROM (SELECT order_id, sum(quantity) AS items, sum(total) AS amount
          FROM order_line WHERE order_id = ANY(:ids) GROUP BY order_id) l
    WHERE o.id = l.order_id
    """
)


class OrderHandler(BaseHandler):
    def __init__(
        self,
        context: Context,
        channel_id: uuid.UUID | None,
        job: ImportJob,
        settings: Settings,
    ) -> None:
        super().__init__(context)
        self.channel_id = channel_id
        self.settings = settings
        self.currency = str((job.options or {}).get("currency") or settings.currency)

    def validate(self, number: int, row: list[str]) -> OrderRecord:
        return validate(self.context, number, row, self.currency)

    def keys(self, record: OrderRecord) -> list[tuple[str, str]]:
        return []

    async def count_existing(self, db: AsyncSession, records: Sequence[Any]) -> int:
        numbers = list({r.number for r in records})
        rows = await db.execute(
            text(
                "SELECT number FROM shop_order WHERE number = ANY(:numbers)"
                " AND channel_id IS NOT DISTINCT FROM :channel"
            ),
            {"numbers": numbers, "channel": self.channel_id},
        )
        known = {row[0] for row in rows}
        return sum(1 for r in records if r.number in known)

    async def write(self, db: AsyncSession, records: Sequence[Any]) -> Written:
        inserted = updated = 0
        errors: list[RowError] = []
        orders: dict[str, uuid.UUID] = {}
        customers: set[uuid.UUID] = set()
        # a re-imported order may move to another day: its old day is recomputed too
        earlier = await rollups.keys_of(db, await self._existing_ids(db, records))
        for record in records:
            try:
                async with db.begin_nested():
                    outcome = await self._write_one(db, record, orders, customers)
            except RowInvalid as invalid:
                errors.extend(invalid.errors)
                continue
            inserted += outcome == "inserted"
            updated += outcome == "updated"
        if orders:
            await db.execute(_TOTALS, {"ids": list(orders.values())})
        await metrics.refresh(db, self.settings, customers)
        await rollups.refresh_orders(db, orders.values(), earlier=earlier)
        return Written(inserted, updated, errors)

    async def _existing_ids(self, db: AsyncSession, records: Sequence[Any]) -> list[uuid.UUID]:
        rows = await db.scalars(
            text(
                "SELECT id FROM shop_order WHERE number = ANY(:numbers)"
                " AND channel_id IS NOT DISTINCT FROM :channel"
            ),
            {"numbers": list({r.number for r in records}), "channel": self.channel_id},
        )
        return list(rows)

    async def _customer(self, db: AsyncSession, r: OrderRecord) -> uuid.UUID:
        if not r.email:
            raise RowInvalid(
                [RowError(r.row, self.header_of("email"), "", "required",
                          "The customer's email is missing")]
            )  # fmt: skip
        found = await db.scalar(_CUSTOMER, {"email": r.email})
        if found is not None:
            return uuid.UUID(str(found))
        first, last = values.split_name(r.customer_name)
        created = await db.scalar(
            _NEW_CUSTOMER,
            {"id": new_id(), "email": r.email, "first": first[:100], "last": last[:100]},
        )
        await db.execute(
            text("INSERT INTO customer_metrics (customer_id) VALUES (:id) ON CONFLICT DO NOTHING"),
            {"id": created},
        )
        return uuid.UUID(str(created))

    async def _write_one(
        self,
        db: AsyncSession,
        r: OrderRecord,
        orders: dict[str, uuid.UUID],
        customers: set[uuid.UUID],
    ) -> str:
        """``inserted`` or ``updated`` for an order's first row in the batch, else ``""``."""
        outcome = ""
        order_id = orders.get(r.number)
        if order_id is None:
            customer_id = await self._customer(db, r)
            row = (
                await db.execute(
                    _ORDER,
                    {
                        "id": new_id(),
                        "number": r.number,
                        "customer_id": customer_id,
                        "channel_id": self.channel_id,
                        "external_id": r.external_id,
                        "placed_at": r.placed_at,
                        "financial": r.financial_status,
                        "fulfillment": r.fulfillment_status,
                        "currency": r.currency,
                        "codes": r.discount_codes,
                        "note": r.note,
                        "tags": r.tags,
                        **{name: r.amounts.get(name) for name in _AMOUNTS},
                    },
                )
            ).one()
            order_id, outcome = row[0], "inserted" if row[2] else "updated"
            orders[r.number] = order_id
            customers.add(row[1])
        if r.line_title or r.line_sku:
            await db.execute(
                _LINE,
                {
                    "id": new_id(),
                    "order_id": order_id,
                    "title": r.line_title or r.line_sku,
                    "sku": r.line_sku,
                    "price": r.line_unit_price,
                    "quantity": r.line_quantity,
                    "position": r.row,
                },
            )
        return outcome
