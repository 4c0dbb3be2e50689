"""Shopify products, variants and inventory levels onto Patron's catalog."""

from __future__ import annotations

import uuid
from typing import Any

from patron.catalog import repository as catalog_repository
from patron.catalog import service as catalog
from patron.integrations.context import Context, Outcome
from patron.integrations.shopify import payloads
from patron.models import Product, ProductVariant
from patron.models.catalog import PRODUCT_STATUSES

INVENTORY_ITEM = "inventory_item:"


async def _sku(ctx: Context, sku: str, own_id: uuid.UUID | None) -> str:
    """SKUs are unique in Patron; a SKU another variant holds is left blank here."""
    sku = sku.strip()[:100]
    holder = await catalog_repository.sku_owner(ctx.db, sku) if sku else None
    return sku if holder is None or holder == own_id else ""


def _refs(ctx: Context, variant: payloads.Variant) -> list[tuple[uuid.UUID, str]]:
    refs = [(ctx.channel.id, str(variant.id))]
    if variant.inventory_item_id is not None:
        refs.append((ctx.channel.id, f"{INVENTORY_ITEM}{variant.inventory_item_id}"))
    return refs


async def _variant_values(
    ctx: Context, variant: payloads.Variant, own_id: uuid.UUID | None
) -> dict[str, Any]:
    return {
        "title": (variant.title or "Default")[:255],
        "sku": await _sku(ctx, variant.sku, own_id),
        "price": variant.price,
        "compare_at_price": variant.compare_at_price,
        "inventory_quantity": variant.inventory_quantity,
        "position": variant.position,
    }


async def upsert_product(ctx: Context, data: payloads.Product) -> Outcome:
    if await ctx.is_stale("product", str(data.id), data.updated_at):
        return Outcome("processed", f"Product {data.id}: already at this version or newer.")
    status = data.status if data.status in PRODUCT_STATUSES else "active"
    fields: dict[str, Any] = {
        "title": data.title.strip()[:255],
        "description": data.body_html,
        "vendor": data.vendor[:200],
        "product_type": data.product_type[:200],
        "status": status,
        "tags": payloads.tag_list(data.tags),
    }
    owner = await catalog_repository.external_id_owner(
        ctx.db, channel_id=ctx.channel.id, kind="product", external_id=str(data.id)
    )
    if owner is None:
        variants = [
            {**await _variant_values(ctx, v, None), "external_ids": _refs(ctx, v)}
            for v in data.variants
        ]
        product = await catalog.create_product(
            ctx.db,
            ctx.settings,
            actor=ctx.actor,
            external_ids=[(ctx.channel.id, str(data.id))],
            variants=variants,
            **fields,
        )
        verb = "created"
    else:
        product = await catalog.get_product(ctx.db, owner.product_id)
        await catalog.update_product(ctx.db, ctx.settings, product, actor=ctx.actor, changes=fields)
        for variant in data.variants:
            await _upsert_variant(ctx, product, variant)
        verb = "updated"
    await ctx.applied("product", str(data.id), data.updated_at)
    return Outcome("processed", f"Product {product.title!r} {verb}.")


async def _upsert_variant(ctx: Context, product: Product, data: payloads.Variant) -> None:
    owner = await catalog_repository.external_id_owner(
        ctx.db, channel_id=ctx.channel.id, kind="variant", external_id=str(data.id)
    )
    if owner is None or owner.variant_id is None:
        await catalog.add_variant(
            ctx.db,
            ctx.settings,
            product,
            actor=ctx.actor,
            external_ids=_refs(ctx, data),
            **await _variant_values(ctx, data, None),
        )
        return
    variant = await catalog.get_variant(ctx.db, product, owner.variant_id)
    values = await _variant_values(ctx, data, variant.id)
    changes = {key: value for key, value in values.items() if getattr(variant, key) != value}
    if changes:
        await catalog.update_variant(ctx.db, variant, actor=ctx.actor, changes=changes)


async def delete_product(ctx: Context, data: payloads.Deleted) -> Outcome:
    """A product deleted in the shop is archived here: past orders still point at it."""
    await ctx.is_stale("product", str(data.id), None)
    owner = await catalog_repository.external_id_owner(
        ctx.db, channel_id=ctx.channel.id, kind="product", external_id=str(data.id)
    )
    if owner is None:
        return Outcome("ignored", f"Product {data.id} was not known.")
    product = await catalog.get_product(ctx.db, owner.product_id)
    await catalog.archive_product(ctx.db, product, actor=ctx.actor)
    return Outcome("processed", f"Product {product.title!r} archived.")


async def inventory_changed(ctx: Context, data: payloads.InventoryLevel) -> Outcome:
    """The shop's count becomes the variant's stock (Patron keeps one figure per variant, so
    a shop with several locations should send the total)."""
    key = f"{INVENTORY_ITEM}{data.inventory_item_id}"
    if await ctx.is_stale("inventory", key, data.updated_at):
        return Outcome("processed", "Inventory level: already at this version or newer.")
    owner = await catalog_repository.external_id_owner(
        ctx.db, channel_id=ctx.channel.id, kind="variant", external_id=key
    )
    if owner is None or owner.variant_id is None or data.available is None:
        return Outcome("ignored", f"Inventory item {data.inventory_item_id} is not known.")
    variant = await ctx.db.get(ProductVariant, owner.variant_id)
    assert variant is not None
    if variant.inventory_quantity != data.available:
        await catalog.update_variant(
            ctx.db, variant, actor=ctx.actor, changes={"inventory_quantity": data.available}
        )
    await ctx.applied("inventory", key, data.updated_at)
    return Outcome("processed", f"Stock of {variant.sku or variant.title} set to {data.available}.")
