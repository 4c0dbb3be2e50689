"""The demo shop in a database through SQLAlchemy bulk inserts: for ``patron demo`` and the
first ``patron serve`` on an empty database (a few thousand rows a second is plenty here)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import ConfigurationError, Settings
from patron.db.base import Base
from patron.demo_shop import finish
from patron.demo_shop.generator import ShopGenerator
from patron.demo_shop.shop import ShopParams, StaffMember
from patron.demo_shop.tables import TABLES
from patron.kit.time import utcnow
from patron.models import Customer, Order, StaffUser

CHUNK = 1000


@dataclass(frozen=True)
class ShopSummary:
    created: bool
    counts: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        c = self.counts
        return (
            f"{c.get('customer', 0)} customers, {c.get('shop_order', 0)} orders, "
            f"{c.get('product', 0)} products, {c.get('cart', 0)} carts, "
            f"{c.get('timeline_entry', 0)} timeline entries"
        )


def params_for(
    settings: Settings, *, customers: int, staff: tuple[StaffMember, ...], seed: int = 2026
) -> ShopParams:
    return ShopParams(
        now=utcnow(),
        seed=seed,
        customers=customers,
        currency=settings.currency,
        vip_spent=Decimal(settings.vip_spent_threshold),
        at_risk_after_days=settings.at_risk_after_days,
        churned_after_days=settings.churned_after_days,
        cart_abandoned_after_minutes=settings.cart_abandoned_after_minutes,
        staff=staff,
        batch_size=max(customers, 1),  # one batch: order numbers in the order of time
    )


async def demo_staff(db: AsyncSession) -> tuple[StaffMember, ...]:
    users = await db.scalars(
        select(StaffUser).where(StaffUser.is_demo, StaffUser.is_active).order_by(StaffUser.email)
    )
    return tuple(StaffMember(user.id, user.email, user.name, user.role) for user in users)


async def has_shop_data(db: AsyncSession) -> bool:
    return bool(
        await db.scalar(select(exists().where(Customer.id.is_not(None))))
        or await db.scalar(select(exists().where(Order.id.is_not(None))))
    )


async def seed_shop(
    db: AsyncSession, settings: Settings, *, customers: int = 300, seed: int = 2026
) -> ShopSummary:
    """Create the demo shop unless the database already holds customers or orders."""
    if settings.is_production:
        raise ConfigurationError("Demo data is never created in production.")
    if await has_shop_data(db):
        return ShopSummary(created=False)
    params = params_for(settings, customers=customers, staff=await demo_staff(db), seed=seed)
    generator = ShopGenerator(params)
    counts: Counter[str] = Counter()
    for batch in generator.batches():
        for table_name, columns in TABLES.items():
            rows = batch[table_name]
            table: Table = Base.metadata.tables[table_name]
            for start in range(0, len(rows), CHUNK):
                values: list[dict[str, Any]] = [
                    dict(zip(columns, row, strict=True)) for row in rows[start : start + CHUNK]
                ]
                await db.execute(insert(table), values)
            counts[table_name] += len(rows)
    for statement, parameters in finish.statements(params, utcnow()):
        await db.execute(statement, parameters)
    targets = finish.sequence_targets(
        next_order=generator.next_order_number, next_return=generator.next_return_number
    )
    for name, value in targets.items():
        if await db.scalar(finish.SEQUENCE_EXISTS, {"name": name}):
            await db.execute(finish.ADVANCE_SEQUENCE, {"name": name, "next": value})
    await db.flush()
    return ShopSummary(created=True, counts=dict(counts))
