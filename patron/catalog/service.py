"""Changing the catalog: categories, products, variants, external IDs and stock."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.audit import service as audit
from patron.audit.service import Actor
from patron.catalog import repository
from patron.config import Settings
from patron.errors import Conflict, InvalidInput, NotFound
from patron.kit.contact import normalise_currency
from patron.kit.custom_fields import validate_custom_fields
from patron.kit.urls import check_http_url
from patron.models import Category, Product, ProductExternalId, ProductVariant

ExternalRef = tuple[uuid.UUID, str]  # (channel_id, external_id)
PRODUCT_FIELDS = ("title", "handle", "description", "vendor", "product_type", "status", "tags")
VARIANT_FIELDS = (
    "title",
    "sku",
    "price",
    "compare_at_price",
    "currency",
    "inventory_quantity",
    "status",
    "position",
)
MAX_SLUG = 100


def _invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def _reject_nulls(changes: Mapping[str, Any], *, nullable: Iterable[str] = ()) -> None:
    allowed = set(nullable)
    for field, value in changes.items():
        if value is None and field not in allowed:
            raise _invalid(field, f"{field} cannot be null.", "null_not_allowed")


def slugify(text: str) -> str:
    """A lower-case ASCII slug (``Summer Sale!`` → ``summer-sale``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:MAX_SLUG].strip("-") or "item"


def _json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: (str(value) if isinstance(value, uuid.UUID | Decimal) else value)
        for key, value in values.items()
    }


# -- categories ----------------------------------------------------------------------------


async def get_category(db: AsyncSession, category_id: uuid.UUID) -> Category:
    category = await db.get(Category, category_id)
    if category is None:
        raise NotFound("No such category.", code="category_not_found")
    return category


async def _check_slug(db: AsyncSession, slug: str, *, own_id: uuid.UUID | None = None) -> str:
    holder = await repository.category_by_slug(db, slug)
    if holder is not None and holder.id != own_id:
        raise Conflict(
            f"The slug {slug!r} is taken.",
            code="duplicate_slug",
            details=[{"field": "slug", "message": "already used"}],
        )
    return slug


async def _check_parent(
    db: AsyncSession, parent_id: uuid.UUID | None, *, own_id: uuid.UUID | None = None
) -> uuid.UUID | None:
    if parent_id is None:
        return None
    if await db.get(Category, parent_id) is None:
        raise _invalid("parent_id", "There is no such parent category.", "unknown_category")
    if own_id is not None and own_id in await repository.category_ancestors(db, parent_id):
        raise _invalid(
            "parent_id", "A category cannot sit inside itself or its children.", "category_cycle"
        )
    return parent_id


async def create_category(
    db: AsyncSession,
    *,
    actor: Actor,
    name: str,
    slug: str | None = None,
    parent_id: uuid.UUID | None = None,
) -> Category:
    name = name.strip()
    if not name:
        raise _invalid("name", "A name is required.", "invalid_name")
    category = Category(
        name=name,
        slug=await _check_slug(db, slug or slugify(name)),
        parent_id=await _check_parent(db, parent_id),
    )
    db.add(category)
    await db.flush()
    await audit.record(
        db,
        action="category.created",
        actor=actor,
        object_type="category",
        object_id=category.id,
        details=_json({"name": name, "slug": category.slug, "parent_id": parent_id}),
    )
    return category


async def update_category(
    db: AsyncSession, category: Category, *, actor: Actor, changes: Mapping[str, Any]
) -> Category:
    _reject_nulls(changes, nullable=("parent_id",))
    before = _json({"name": category.name, "slug": category.slug, "parent_id": category.parent_id})
    if "name" in changes:
        name = changes["name"].strip()
        if not name:
            raise _invalid("name", "A name is required.", "invalid_name")
        category.name = name
    if "slug" in changes:
        category.slug = await _check_slug(db, changes["slug"], own_id=category.id)
    if "parent_id" in changes:
        category.parent_id = await _check_parent(db, changes["parent_id"], own_id=category.id)
    await db.flush()
    after = _json({"name": category.name, "slug": category.slug, "parent_id": category.parent_id})
    await audit.record_change(
        db,
        action="category.updated",
        actor=actor,
        object_type="category",
        object_id=category.id,
        before=before,
        after=after,
    )
    return category


async def delete_category(db: AsyncSession, category: Category, *, actor: Actor) -> None:
    """Children move up to the top level; products simply leave the category."""
    await db.delete(category)
    await db.flush()
    await audit.record(
        db,
        action="category.deleted",
        actor=actor,
        object_type="category",
        object_id=category.id,
        details={"name": category.name, "slug": category.slug},
    )


# -- products ------------------------------------------------------------------------------


async def get_product(db: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await db.get(Product, product_id)
    if product is None:
        raise NotFound("No such product.", code="product_not_found")
    return product


async def _free_handle(db: AsyncSession, base: str) -> str:
    handle = base
    for number in range(2, 1000):
        if not await repository.handle_taken(db, handle):
            return handle
        suffix = f"-{number}"
        handle = base[: MAX_SLUG - len(suffix)] + suffix
    raise Conflict("Choose a handle; this title is used too often.", code="duplicate_handle")


async def _check_handle(db: AsyncSession, handle: str, *, own_id: uuid.UUID | None) -> str:
    holder = await repository.product_by_handle(db, handle)
    if holder is not None and holder.id != own_id:
        raise Conflict(
            f"The handle {handle!r} is taken.",
            code="duplicate_handle",
            details=[{"field": "handle", "message": "already used"}],
        )
    return handle


def _images(urls: Iterable[str]) -> list[str]:
    return list(
        dict.fromkeys(check_http_url(url, field=f"images.{i}") for i, url in enumerate(urls))
    )


def _tags(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))


async def _categories(db: AsyncSession, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    wanted = list(dict.fromkeys(ids))
    missing = set(wanted) - await repository.existing_category_ids(db, wanted)
    if missing:
        raise _invalid(
            "category_ids",
            f"No such categories: {', '.join(map(str, missing))}.",
            "unknown_category",
        )
    return wanted


async def _set_external_ids(
    db: AsyncSession,
    *,
    product_id: uuid.UUID,
    variant_id: uuid.UUID | None,
    refs: Sequence[ExternalRef],
) -> None:
    kind = "product" if variant_id is None else "variant"
    channels = {channel_id for channel_id, _ in refs}
    missing = channels - await repository.existing_channel_ids(db, channels)
    if missing:
        raise _invalid("external_ids", "There is no such channel.", "unknown_channel")
    await repository.delete_external_ids(db, product_id=product_id, variant_id=variant_id)
    await db.flush()
    for channel_id, external_id in dict.fromkeys(refs):
        holder = await repository.external_id_owner(
            db, channel_id=channel_id, kind=kind, external_id=external_id
        )
        if holder is not None:
            raise Conflict(
                f"The {kind} ID {external_id!r} is already used in this channel.",
                code="duplicate_external_id",
                details=[{"field": "external_ids", "message": external_id}],
            )
        db.add(
            ProductExternalId(
                channel_id=channel_id,
                kind=kind,
                external_id=external_id,
                product_id=product_id,
                variant_id=variant_id,
            )
        )
        await db.flush()


def _snapshot(product: Product) -> dict[str, Any]:
    return {
        **{field: getattr(product, field) for field in PRODUCT_FIELDS},
        "images": list(product.images),
        "custom_fields": dict(product.custom_fields),
    }


async def create_product(
    db: AsyncSession,
    settings: Settings,
    *,
    actor: Actor,
    title: str,
    handle: str | None = None,
    description: str = "",
    vendor: str = "",
    product_type: str = "",
    status: str = "active",
    tags: Iterable[str] = (),
    images: Iterable[str] = (),
    category_ids: Iterable[uuid.UUID] = (),
    custom_fields: Mapping[str, Any] | None = None,
    external_ids: Sequence[ExternalRef] = (),
    variants: Sequence[Mapping[str, Any]] = (),
) -> Product:
    """A product with its variants; each variant takes :func:`add_variant`'s arguments."""
    title = title.strip()
    if not title:
        raise _invalid("title", "A title is required.", "invalid_title")
    product = Product(
        title=title,
        handle=(
            await _check_handle(db, handle, own_id=None)
            if handle
            else await _free_handle(db, slugify(title))
        ),
        description=description,
        vendor=vendor.strip(),
        product_type=product_type.strip(),
        status=status,
        tags=_tags(tags),
        images=_images(images),
        custom_fields=await validate_custom_fields(
            db, entity="product", values=custom_fields or {}
        ),
    )
    chosen_categories = await _categories(db, category_ids)
    db.add(product)
    await db.flush()
    await repository.set_categories(db, product.id, chosen_categories)
    await _set_external_ids(db, product_id=product.id, variant_id=None, refs=external_ids)
    await audit.record(
        db,
        action="product.created",
        actor=actor,
        object_type="product",
        object_id=product.id,
        details=_snapshot(product),
    )
    for index, values in enumerate(variants):
        await add_variant(
            db, settings, product, actor=actor, field_prefix=f"variants.{index}.", **values
        )
    return product


async def update_product(
    db: AsyncSession,
    settings: Settings,
    product: Product,
    *,
    actor: Actor,
    changes: Mapping[str, Any],
) -> Product:
    """Apply the given fields; lists (tags, images, categories, external IDs) are replaced."""
    _reject_nulls(changes)
    before = _snapshot(product)
    values = dict(changes)
    if "title" in values:
        product.title = values.pop("title").strip()
        if not product.title:
            raise _invalid("title", "A title is required.", "invalid_title")
    if "handle" in values:
        product.handle = await _check_handle(db, values.pop("handle"), own_id=product.id)
    if "tags" in values:
        product.tags = _tags(values.pop("tags"))
    if "images" in values:
        product.images = _images(values.pop("images"))
    if "custom_fields" in values:
        product.custom_fields = await validate_custom_fields(
            db, entity="product", values=values.pop("custom_fields")
        )
    if "category_ids" in values:
        await repository.set_categories(
            db, product.id, await _categories(db, values.pop("category_ids"))
        )
    if "external_ids" in values:
        await _set_external_ids(
            db, product_id=product.id, variant_id=None, refs=values.pop("external_ids")
        )
    for field in ("description", "vendor", "product_type", "status"):
        if field in values:
            value = values.pop(field)
            setattr(product, field, value.strip() if field != "description" else value)
    if values:
        raise _invalid(next(iter(values)), "This field cannot be changed.", "unknown_field")
    await db.flush()
    await db.refresh(product, ["updated_at"])
    await audit.record_change(
        db,
        action="product.updated",
        actor=actor,
        object_type="product",
        object_id=product.id,
        before=before,
        after=_snapshot(product),
    )
    return product


async def archive_product(db: AsyncSession, product: Product, *, actor: Actor) -> Product:
    """Hide a product from the live catalog; its orders and external IDs stay."""
    if product.status != "archived":
        previous = product.status
        product.status = "archived"
        await db.flush()
        await db.refresh(product, ["updated_at"])
        await audit.record_change(
            db,
            action="product.archived",
            actor=actor,
            object_type="product",
            object_id=product.id,
            before={"status": previous},
            after={"status": "archived"},
        )
    return product


async def delete_product(db: AsyncSession, product: Product, *, actor: Actor) -> None:
    """Remove a product for good; order lines keep their snapshot of title, SKU and price."""
    await db.delete(product)
    await db.flush()
    await audit.record(
        db,
        action="product.deleted",
        actor=actor,
        object_type="product",
        object_id=product.id,
        details={"title": product.title, "handle": product.handle},
    )


# -- variants ------------------------------------------------------------------------------


async def get_variant(db: AsyncSession, product: Product, variant_id: uuid.UUID) -> ProductVariant:
    found = await repository.variant(db, product.id, variant_id)
    if found is None:
        raise NotFound("No such variant.", code="variant_not_found")
    return found


async def _check_sku(db: AsyncSession, sku: str, *, own_id: uuid.UUID | None, field: str) -> str:
    sku = sku.strip()
    if sku:
        holder = await repository.sku_owner(db, sku)
        if holder is not None and holder != own_id:
            raise Conflict(
                f"The SKU {sku!r} is already used by another variant.",
                code="duplicate_sku",
                details=[{"field": field, "message": "already used"}],
            )
    return sku


def _variant_snapshot(variant: ProductVariant) -> dict[str, Any]:
    return _json({field: getattr(variant, field) for field in VARIANT_FIELDS})


async def add_variant(
    db: AsyncSession,
    settings: Settings,
    product: Product,
    *,
    actor: Actor,
    price: Decimal,
    title: str = "Default",
    sku: str = "",
    compare_at_price: Decimal | None = None,
    currency: str | None = None,
    inventory_quantity: int = 0,
    status: str = "active",
    position: int = 0,
    external_ids: Sequence[ExternalRef] = (),
    field_prefix: str = "",
) -> ProductVariant:
    if price < 0 or (compare_at_price is not None and compare_at_price < 0):
        raise _invalid(f"{field_prefix}price", "Prices cannot be negative.", "negative_amount")
    variant = ProductVariant(
        product_id=product.id,
        title=title.strip() or "Default",
        sku=await _check_sku(db, sku, own_id=None, field=f"{field_prefix}sku"),
        price=price,
        compare_at_price=compare_at_price,
        currency=normalise_currency(currency or settings.currency, field=f"{field_prefix}currency"),
        inventory_quantity=inventory_quantity,
        status=status,
        position=position,
    )
    db.add(variant)
    await db.flush()
    await _set_external_ids(db, product_id=product.id, variant_id=variant.id, refs=external_ids)
    await audit.record(
        db,
        action="product.variant_created",
        actor=actor,
        object_type="product",
        object_id=product.id,
        details={"variant_id": str(variant.id), **_variant_snapshot(variant)},
    )
    return variant


async def update_variant(
    db: AsyncSession,
    variant: ProductVariant,
    *,
    actor: Actor,
    changes: Mapping[str, Any],
) -> ProductVariant:
    _reject_nulls(changes, nullable=("compare_at_price",))
    before = _variant_snapshot(variant)
    values = dict(changes)
    if "sku" in values:
        variant.sku = await _check_sku(db, values.pop("sku"), own_id=variant.id, field="sku")
    if "currency" in values:
        variant.currency = normalise_currency(values.pop("currency"))
    if "title" in values:
        variant.title = values.pop("title").strip() or "Default"
    if "external_ids" in values:
        await _set_external_ids(
            db,
            product_id=variant.product_id,
            variant_id=variant.id,
            refs=values.pop("external_ids"),
        )
    for field in ("price", "compare_at_price", "inventory_quantity", "status", "position"):
        if field in values:
            setattr(variant, field, values.pop(field))
    if values:
        raise _invalid(next(iter(values)), "This field cannot be changed.", "unknown_field")
    await db.flush()
    await db.refresh(variant, ["updated_at"])
    await audit.record_change(
        db,
        action="product.variant_updated",
        actor=actor,
        object_type="product",
        object_id=variant.product_id,
        before=before,
        after=_variant_snapshot(variant),
    )
    return variant


async def delete_variant(db: AsyncSession, variant: ProductVariant, *, actor: Actor) -> None:
    await db.delete(variant)
    await db.flush()
    await audit.record(
        db,
        action="product.variant_deleted",
        actor=actor,
        object_type="product",
        object_id=variant.product_id,
        details={"variant_id": str(variant.id), "sku": variant.sku},
    )


async def _move_stock(db: AsyncSession, deltas: Mapping[uuid.UUID, int]) -> None:
    # one statement per variant, in id order, so two orders never wait on each other's rows
    for variant_id, delta in sorted(deltas.items()):
        if delta:
            await db.execute(
                update(ProductVariant)
                .where(ProductVariant.id == variant_id)
                .values(inventory_quantity=ProductVariant.inventory_quantity + delta)
            )
    await db.flush()


async def restock(db: AsyncSession, quantities: Mapping[uuid.UUID, int]) -> None:
    """Put units back on the shelf (a refund or return with restock), atomically per variant."""
    await _move_stock(db, {key: qty for key, qty in quantities.items() if qty > 0})


async def take_stock(db: AsyncSession, quantities: Mapping[uuid.UUID, int]) -> None:
    """Take sold units off the shelf. Stock may go below zero: an oversold item is a fact
    to show on the low-stock list, not a reason to refuse the customer's order."""
    await _move_stock(db, {key: -qty for key, qty in quantities.items() if qty > 0})
