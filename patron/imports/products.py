"""Products import: one row per variant (Shopify's layout), grouped by handle.

Rows are written one at a time (catalogs are thousands of rows, not millions): the product is
upserted by handle, the variant by SKU (or by title within the product), images are added.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from patron.errors import CRMError
from patron.imports import values
from patron.imports.entities import BaseHandler, Written
from patron.imports.rows import Context, RowError, RowInvalid, _Collector, cells_of
from patron.kit.contact import normalise_currency
from patron.kit.ids import new_id
from patron.models import ImportJob
from patron.models.catalog import PRODUCT_STATUSES


@dataclass(slots=True)
class ProductRecord:
    row: int
    handle: str
    title: str = ""
    description: str = ""
    vendor: str = ""
    product_type: str = ""
    category: str = ""
    tags: list[str] = field(default_factory=list)
    status: str | None = None
    variant_title: str = ""
    sku: str = ""
    price: Decimal | None = None
    compare_at_price: Decimal | None = None
    currency: str = "USD"
    inventory: int | None = None
    images: list[str] = field(default_factory=list)
    external_id: str | None = None


def slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:100]


def _status(value: str) -> str:
    status = value.strip().lower()
    if status not in PRODUCT_STATUSES:
        raise values.CellError("invalid_status", f"{value!r} is not active, draft or archived")
    return status


def _images(value: str) -> list[str]:
    urls = [u.strip() for u in re.split(r"[,\s]+", value) if u.strip()]
    for url in urls:
        if not re.match(r"^https?://[^\s]+$", url):
            raise values.CellError("invalid_url", f"{url!r} is not an http(s) URL")
    return urls[:20]


def validate(context: Context, number: int, row: list[str], currency: str) -> ProductRecord:
    cells = cells_of(context, row)
    c = _Collector(number, cells)
    title = c.take("title", lambda v: values.text(v, 255)) or ""
    handle = slug(c.take("handle", lambda v: v) or title)
    record = ProductRecord(row=number, handle=handle, title=title, currency=currency)
    record.description = c.take("description", lambda v: values.text(v, 20000)) or ""
    record.vendor = c.take("vendor", lambda v: values.text(v, 200)) or ""
    record.product_type = c.take("product_type", lambda v: values.text(v, 200)) or ""
    record.category = c.take("category", lambda v: values.text(v, 100)) or ""
    record.tags = c.take("tags", values.tags) or []
    record.status = c.take("status", _status)
    options = [c.take(f"option{i}", lambda v: values.text(v, 80)) for i in (1, 2, 3)]
    variant_title = c.take("variant_title", lambda v: values.text(v, 255))
    record.variant_title = variant_title or " / ".join(o for o in options if o) or "Default"
    if record.variant_title == "Default Title":
        record.variant_title = "Default"
    record.sku = c.take("sku", lambda v: values.text(v, 100)) or ""
    record.price = c.take("price", lambda v: values.amount(v, "price"))
    record.compare_at_price = c.take("compare_at_price", lambda v: values.amount(v, "price"))
    if "currency" in cells:
        record.currency = c.take("currency", _currency) or currency
    record.inventory = c.take("inventory", lambda v: values.quantity(v, minimum=-1_000_000))
    record.images = c.take("image_url", _images) or []
    record.external_id = c.take("external_id", lambda v: values.text(v, 200))
    if not handle:
        c.missing("handle", "The product needs a handle or a title")
    if c.errors:
        raise RowInvalid(c.errors)
    return record


def _currency(value: str) -> str:
    try:
        return normalise_currency(value)
    except CRMError as error:
        raise values.CellError(error.code, error.message) from None


_PRODUCT = text(
    """
    INSERT INTO product AS p (id, title, handle, description, vendor, product_type, status, tags,
                              images, created_at, updated_at)
    VALUES (:id, coalesce(nullif(:title, ''), :handle), :handle, :description, :vendor,
            :product_type, coalesce(:status, 'active'), :tags, :images, now(), now())
    ON CONFLICT (handle) DO UPDATE SET
        title = coalesce(nullif(:title, ''), p.title),
        description = CASE WHEN EXCLUDED.description <> '' THEN EXCLUDED.description
                      ELSE p.description END,
        vendor = CASE WHEN EXCLUDED.vendor <> '' THEN EXCLUDED.vendor ELSE p.vendor END,
        product_type = CASE WHEN EXCLUDED.product_type <> '' THEN EXCLUDED.product_type
                       ELSE p.product_type END,
        status = coalesce(:status, p.status),
        tags = p.tags || ARRAY(SELECT t FROM unnest(EXCLUDED.tags) t WHERE t <> ALL(p.tags)),
        images = p.images || ARRAY(SELECT i FROM unnest(EXCLUDED.images) i
                                   WHERE i <> ALL(p.images)),
        updated_at = now()
    RETURNING id, (xmax = 0) AS inserted
    """
)
_VARIANT_BY_SKU = text(
    "SELECT id FROM product_variant WHERE sku = :sku AND sku <> '' AND product_id = :product_id"
)
_VARIANT_BY_TITLE = text(
    "SELECT id FROM product_variant WHERE product_id = :product_id AND title = :title AND sku = ''"
)
_SKU_ELSEWHERE = text(
    "SELECT 1 FROM product_variant WHERE sku = :sku AND product_id <> :product_id"
)


class ProductHandler(BaseHandler):
    def __init__(self, context: Context, channel_id: uuid.UUID | None, job: ImportJob) -> None:
        super().__init__(context)
        self.channel_id = channel_id
        self.currency = str((job.options or {}).get("currency") or "USD")

    def validate(self, number: int, row: list[str]) -> ProductRecord:
        return validate(self.context, number, row, self.currency)

    def keys(self, record: ProductRecord) -> list[tuple[str, str]]:
        return [("sku", record.sku)] if record.sku else []

    async def count_existing(self, db: AsyncSession, records: Sequence[Any]) -> int:
        handles = {r.handle for r in records}
        rows = await db.execute(
            text("SELECT handle FROM product WHERE handle = ANY(:handles)"),
            {"handles": list(handles)},
        )
        known = {row[0] for row in rows}
        return sum(1 for r in records if r.handle in known)

    async def write(self, db: AsyncSession, records: Sequence[Any]) -> Written:
        inserted = updated = 0
        errors: list[RowError] = []
        for record in records:
            try:
                async with db.begin_nested():
                    created = await self._write_one(db, record)
            except RowInvalid as invalid:
                errors.extend(invalid.errors)
                continue
            inserted, updated = inserted + created, updated + (not created)
        return Written(inserted, updated, errors)

    async def _write_one(self, db: AsyncSession, r: ProductRecord) -> bool:
        product_id, created = (
            await db.execute(
                _PRODUCT,
                {
                    "id": new_id(),
                    "title": r.title,
                    "handle": r.handle,
                    "description": r.description,
                    "vendor": r.vendor,
                    "product_type": r.product_type,
                    "status": r.status,
                    "tags": r.tags,
                    "images": r.images,
                },
            )
        ).one()
        if r.category:
            await self._categorise(db, product_id, r.category)
        if r.external_id and self.channel_id:
            await db.execute(
                text(
                    "INSERT INTO product_external_id (id, channel_id, kind, external_id,"
                    " product_id) VALUES (:id, :channel, 'product', :external, :product)"
                    " ON CONFLICT (channel_id, kind, external_id) DO NOTHING"
                ),
                {"id": new_id(), "channel": self.channel_id, "external": r.external_id,
                 "product": product_id},
            )  # fmt: skip
        if r.price is None and not r.sku:
            return bool(created)
        return await self._variant(db, product_id, r) or bool(created)

    async def _categorise(self, db: AsyncSession, product_id: uuid.UUID, name: str) -> None:
        leaf = name.split(">")[-1].strip()
        category_id = await db.scalar(
            text(
                "INSERT INTO category (id, name, slug, created_at) VALUES (:id, :name, :slug,"
                " now()) ON CONFLICT (slug) DO UPDATE SET name = category.name RETURNING id"
            ),
            {"id": new_id(), "name": leaf[:100], "slug": slug(leaf) or "category"},
        )
        await db.execute(
            text(
                "INSERT INTO product_category (product_id, category_id) VALUES (:p, :c)"
                " ON CONFLICT DO NOTHING"
            ),
            {"p": product_id, "c": category_id},
        )

    async def _variant(self, db: AsyncSession, product_id: uuid.UUID, r: ProductRecord) -> bool:
        params = {"product_id": product_id, "sku": r.sku, "title": r.variant_title}
        if r.sku and await db.scalar(_SKU_ELSEWHERE, params):
            raise RowInvalid(
                [RowError(r.row, self.header_of("sku"), r.sku, "sku_taken",
                          "Another product already has this SKU")]
            )  # fmt: skip
        variant_id = await db.scalar(_VARIANT_BY_SKU if r.sku else _VARIANT_BY_TITLE, params)
        values_ = {
            "title": r.variant_title,
            "price": r.price,
            "compare": r.compare_at_price,
            "currency": r.currency,
            "inventory": r.inventory,
        }
        if variant_id is not None:
            await db.execute(
                text(
                    "UPDATE product_variant SET title = :title, price = coalesce(:price, price),"
                    " compare_at_price = coalesce(:compare, compare_at_price),"
                    " inventory_quantity = coalesce(:inventory, inventory_quantity),"
                    " updated_at = now() WHERE id = :id"
                ),
                {**values_, "id": variant_id},
            )
            return False
        if r.price is None:
            raise RowInvalid(
                [RowError(r.row, self.header_of("price"), "", "required",
                          "A new variant needs a price")]
            )  # fmt: skip
        await db.execute(
            text(
                "INSERT INTO product_variant (id, product_id, title, sku, price, compare_at_price,"
                " currency, inventory_quantity, position, created_at, updated_at) VALUES (:id,"
                " :product_id, :title, :sku, :price, :compare, :currency, coalesce(:inventory, 0),"
                " (SELECT count(*) FROM product_variant WHERE product_id = :product_id), now(),"
                " now())"
            ),
            {**values_, "id": new_id(), "product_id": product_id, "sku": r.sku},
        )
        return True
