"""A small shop for tests: customers, a catalog and orders placed through the API; and a shop
with real commits, an administrator and a worker (for webhooks, backfills, live servers)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit.service import SYSTEM
from patron.catalog import service as catalog
from patron.config import Settings
from patron.db.engine import Database
from patron.models import Customer, CustomerMetrics, ProductVariant, StaffUser, TimelineEntry
from patron.worker.app import run_worker, set_runtime
from tests.conftest import committed_admin


async def make_customer(
    db: AsyncSession,
    *,
    email: str | None = None,
    owner_id: uuid.UUID | None = None,
    first_name: str = "Ada",
) -> Customer:
    customer = Customer(
        first_name=first_name,
        last_name="Shopper",
        email=email if email is not None else f"ada-{uuid.uuid4().hex[:8]}@example.com",
        owner_id=owner_id,
    )
    db.add(customer)
    await db.flush()
    return customer


@dataclass
class Catalog:
    shirt: ProductVariant  # 40.00, 10 in stock
    mug: ProductVariant  # 12.50, 3 in stock


async def make_catalog(db: AsyncSession, settings: Settings) -> Catalog:
    suffix = uuid.uuid4().hex[:6]
    shirt = await catalog.create_product(
        db,
        settings,
        actor=SYSTEM,
        title="Linen Shirt",
        variants=[
            {
                "title": "M",
                "sku": f"SHIRT-M-{suffix}",
                "price": Decimal("40.00"),
                "inventory_quantity": 10,
            }
        ],
    )
    mug = await catalog.create_product(
        db,
        settings,
        actor=SYSTEM,
        title="Stoneware Mug",
        variants=[{"sku": f"MUG-{suffix}", "price": Decimal("12.50"), "inventory_quantity": 3}],
    )
    variants = await db.scalars(
        select(ProductVariant).where(ProductVariant.product_id.in_([shirt.id, mug.id]))
    )
    by_product = {v.product_id: v for v in variants}
    return Catalog(shirt=by_product[shirt.id], mug=by_product[mug.id])


def order_body(customer: Customer, shop: Catalog, **overrides: Any) -> dict[str, Any]:
    """Two shirts and one mug: 92.50, plus 5.00 shipping = 97.50."""
    return {
        "customer_id": str(customer.id),
        "lines": [
            {"variant_id": str(shop.shirt.id), "quantity": 2},
            {"variant_id": str(shop.mug.id), "quantity": 1},
        ],
        "shipping_total": "5.00",
        **overrides,
    }


async def place(
    client: httpx2.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/api/v1/orders", headers=headers, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def pay(
    client: httpx2.AsyncClient, headers: dict[str, str], order: dict[str, Any], amount: str
) -> httpx2.Response:
    return await client.post(
        f"/api/v1/orders/{order['id']}/payments",
        headers=headers,
        json={"gateway": "stripe", "amount": amount},
    )


async def metrics_of(db: AsyncSession, customer: Customer) -> CustomerMetrics:
    row = await db.scalar(
        select(CustomerMetrics)
        .where(CustomerMetrics.customer_id == customer.id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def timeline_kinds(db: AsyncSession, order_id: str) -> list[str]:
    rows = await db.scalars(
        select(TimelineEntry.kind)
        .where(TimelineEntry.order_id == uuid.UUID(order_id))
        .order_by(TimelineEntry.created_at, TimelineEntry.id)
    )
    return list(rows)


async def stock(db: AsyncSession, variant: ProductVariant) -> int:
    value = await db.scalar(
        select(ProductVariant.inventory_quantity).where(ProductVariant.id == variant.id)
    )
    assert value is not None
    return value


@dataclass
class CommittedShop:
    """A database with real commits whose worker runtime uses ``settings``, and an
    administrator committed there: their API key and a client of an app serving it."""

    database: Database
    settings: Settings
    http: httpx2.AsyncClient
    key: str
    owner: StaffUser

    async def work(self) -> None:
        """Run the jobs queued so far in a worker, then return."""
        await run_worker(self.database, wait=False, concurrency=1)


ShopT = TypeVar("ShopT", bound=CommittedShop)


@contextlib.asynccontextmanager
async def committed_shop(
    database: Database, settings: Settings, kind: type[ShopT]
) -> AsyncIterator[ShopT]:
    """A ``kind`` of :class:`CommittedShop` until the block ends."""
    set_runtime(settings, database)
    async with committed_admin(database, settings) as admin:
        yield kind(database, settings, admin.http, admin.key, admin.user)
