"""Catalog queries: categories, products, variants, external IDs, low stock."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import delete, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.pagination import PageParams, paginate
from patron.kit.text import LIKE_ESCAPE, contains_pattern
from patron.models import (
    Category,
    Channel,
    Product,
    ProductExternalId,
    ProductVariant,
    product_category,
)

MAX_CATEGORY_DEPTH = 50


async def list_categories(
    db: AsyncSession,
    params: PageParams,
    *,
    parent_id: uuid.UUID | None = None,
    q: str | None = None,
) -> tuple[list[Category], str | None]:
    query = select(Category)
    if parent_id is not None:
        query = query.where(Category.parent_id == parent_id)
    if q:
        query = query.where(Category.name.ilike(contains_pattern(q), escape=LIKE_ESCAPE))
    return await paginate(
        db, query, order=[Category.created_at, Category.id], params=params, descending=False
    )


async def categories_by_ids(
    db: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Category]:
    if not ids:
        return {}
    rows = await db.scalars(select(Category).where(Category.id.in_(list(ids))))
    return {category.id: category for category in rows}


async def category_by_slug(db: AsyncSession, slug: str) -> Category | None:
    return await db.scalar(select(Category).where(Category.slug == slug))


async def category_ancestors(db: AsyncSession, category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category and its ancestors' ids, nearest first (bounded against cycles)."""
    chain: list[uuid.UUID] = []
    current: uuid.UUID | None = category_id
    while current is not None and current not in chain and len(chain) < MAX_CATEGORY_DEPTH:
        chain.append(current)
        current = await db.scalar(select(Category.parent_id).where(Category.id == current))
    return chain


async def existing_category_ids(db: AsyncSession, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    return set(await db.scalars(select(Category.id).where(Category.id.in_(list(ids)))))


async def existing_channel_ids(db: AsyncSession, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    return set(await db.scalars(select(Channel.id).where(Channel.id.in_(list(ids)))))


async def product_by_handle(db: AsyncSession, handle: str) -> Product | None:
    return await db.scalar(select(Product).where(Product.handle == handle))


async def handle_taken(db: AsyncSession, handle: str) -> bool:
    return bool(await db.scalar(select(exists().where(Product.handle == handle))))


async def list_products(
    db: AsyncSession,
    params: PageParams,
    *,
    q: str | None = None,
    status: Collection[str] = (),
    category_id: uuid.UUID | None = None,
    vendor: str | None = None,
) -> tuple[list[Product], str | None]:
    query = select(Product)
    if q:
        pattern = contains_pattern(q)
        by_sku = select(ProductVariant.product_id).where(
            ProductVariant.sku.ilike(pattern, escape=LIKE_ESCAPE)
        )
        query = query.where(
            or_(Product.title.ilike(pattern, escape=LIKE_ESCAPE), Product.id.in_(by_sku))
        )
    if status:
        query = query.where(Product.status.in_(list(status)))
    if category_id is not None:
        in_category = select(product_category.c.product_id).where(
            product_category.c.category_id == category_id
        )
        query = query.where(Product.id.in_(in_category))
    if vendor:
        query = query.where(func.lower(Product.vendor) == vendor.strip().lower())
    return await paginate(db, query, order=[Product.created_at, Product.id], params=params)


async def variants_of(db: AsyncSession, product_ids: Collection[uuid.UUID]) -> list[ProductVariant]:
    if not product_ids:
        return []
    rows = await db.scalars(
        select(ProductVariant)
        .where(ProductVariant.product_id.in_(list(product_ids)))
        .order_by(ProductVariant.position, ProductVariant.created_at, ProductVariant.id)
    )
    return list(rows)


async def variant(
    db: AsyncSession, product_id: uuid.UUID, variant_id: uuid.UUID
) -> ProductVariant | None:
    return await db.scalar(
        select(ProductVariant).where(
            ProductVariant.id == variant_id, ProductVariant.product_id == product_id
        )
    )


async def variants_by_ids(
    db: AsyncSession, ids: Collection[uuid.UUID], *, for_update: bool = False
) -> dict[uuid.UUID, ProductVariant]:
    if not ids:
        return {}
    query = select(ProductVariant).where(ProductVariant.id.in_(list(ids)))
    if for_update:
        query = query.order_by(ProductVariant.id).with_for_update()
    return {v.id: v for v in await db.scalars(query)}


async def products_by_ids(db: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Product]:
    if not ids:
        return {}
    return {p.id: p for p in await db.scalars(select(Product).where(Product.id.in_(list(ids))))}


async def sku_owner(db: AsyncSession, sku: str) -> uuid.UUID | None:
    """The id of the variant holding this SKU, if any."""
    return await db.scalar(select(ProductVariant.id).where(ProductVariant.sku == sku))


async def category_ids_of(
    db: AsyncSession, product_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    found: dict[uuid.UUID, list[uuid.UUID]] = {pid: [] for pid in product_ids}
    if not product_ids:
        return found
    rows = await db.execute(
        select(product_category.c.product_id, product_category.c.category_id).where(
            product_category.c.product_id.in_(list(product_ids))
        )
    )
    for product_id, category_id in rows:
        found[product_id].append(category_id)
    return found


async def set_categories(
    db: AsyncSession, product_id: uuid.UUID, category_ids: Collection[uuid.UUID]
) -> None:
    await db.execute(delete(product_category).where(product_category.c.product_id == product_id))
    if category_ids:
        await db.execute(
            insert(product_category),
            [{"product_id": product_id, "category_id": cid} for cid in category_ids],
        )


async def external_ids_of(
    db: AsyncSession, product_ids: Collection[uuid.UUID]
) -> list[ProductExternalId]:
    if not product_ids:
        return []
    rows = await db.scalars(
        select(ProductExternalId)
        .where(ProductExternalId.product_id.in_(list(product_ids)))
        .order_by(ProductExternalId.external_id)
    )
    return list(rows)


async def external_id_owner(
    db: AsyncSession, *, channel_id: uuid.UUID, kind: str, external_id: str
) -> ProductExternalId | None:
    return await db.scalar(
        select(ProductExternalId).where(
            ProductExternalId.channel_id == channel_id,
            ProductExternalId.kind == kind,
            ProductExternalId.external_id == external_id,
        )
    )


async def delete_external_ids(
    db: AsyncSession, *, product_id: uuid.UUID, variant_id: uuid.UUID | None
) -> None:
    query = delete(ProductExternalId).where(ProductExternalId.product_id == product_id)
    if variant_id is None:
        query = query.where(ProductExternalId.kind == "product")
    else:
        query = query.where(ProductExternalId.variant_id == variant_id)
    await db.execute(query)


async def low_stock(
    db: AsyncSession, params: PageParams, *, threshold: int
) -> tuple[list[tuple[ProductVariant, str]], str | None]:
    """Active variants of live products at or below the threshold, emptiest first."""
    query = (
        select(ProductVariant)
        .join(Product, Product.id == ProductVariant.product_id)
        .where(
            ProductVariant.inventory_quantity <= threshold,
            ProductVariant.status == "active",
            Product.status != "archived",
        )
    )
    variants, cursor = await paginate(
        db,
        query,
        order=[ProductVariant.inventory_quantity, ProductVariant.id],
        params=params,
        descending=False,
    )
    titles = {
        p.id: p.title
        for p in (await products_by_ids(db, {v.product_id for v in variants})).values()
    }
    return [(v, titles[v.product_id]) for v in variants], cursor
