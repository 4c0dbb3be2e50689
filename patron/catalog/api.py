"""/api/v1: categories, products, variants and the low-stock list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.dependencies import get_settings
from patron.catalog import repository, service
from patron.catalog.auth import CatalogRead, CatalogWrite
from patron.catalog.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    ExternalIdIn,
    ExternalIdOut,
    LowStockOut,
    ProductCreate,
    ProductOut,
    ProductStatus,
    ProductSummary,
    ProductUpdate,
    VariantCreate,
    VariantOut,
    VariantUpdate,
)
from patron.config import Settings
from patron.db.deps import DbSession
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.models import Product, ProductVariant

router = APIRouter(prefix=API_PREFIX, responses=COMMON_ERRORS)
SettingsDep = Annotated[Settings, Depends(get_settings)]
Paging = Annotated[PageParams, Depends(page_params)]
NOT_FOUND = error_responses(404)
CONFLICT = error_responses(404, 409)


def _refs(items: Sequence[ExternalIdIn] | None) -> list[tuple[uuid.UUID, str]] | None:
    if items is None:
        return None
    return [(item.channel_id, item.external_id) for item in items]


async def _variants_out(db: AsyncSession, variants: Sequence[ProductVariant]) -> list[VariantOut]:
    external = await repository.external_ids_of(db, {v.product_id for v in variants})
    by_variant: dict[uuid.UUID, list[ExternalIdOut]] = {}
    for ref in external:
        if ref.variant_id is not None:
            by_variant.setdefault(ref.variant_id, []).append(ExternalIdOut.model_validate(ref))
    return [
        VariantOut.model_validate(v).model_copy(update={"external_ids": by_variant.get(v.id, [])})
        for v in variants
    ]


async def product_out(db: AsyncSession, product: Product) -> ProductOut:
    variants = await repository.variants_of(db, [product.id])
    categories = await repository.category_ids_of(db, [product.id])
    external = await repository.external_ids_of(db, [product.id])
    return ProductOut.model_validate(product).model_copy(
        update={
            "variants": await _variants_out(db, variants),
            "category_ids": categories[product.id],
            "external_ids": [
                ExternalIdOut.model_validate(ref) for ref in external if ref.kind == "product"
            ],
        }
    )


# -- categories ----------------------------------------------------------------------------


@router.get("/categories", response_model=Page[CategoryOut], tags=["catalog"])
async def list_categories(
    principal: CatalogRead,
    db: DbSession,
    page: Paging,
    parent_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=100, description="Search the name")] = None,
) -> Page[CategoryOut]:
    rows, cursor = await repository.list_categories(db, page, parent_id=parent_id, q=q)
    return Page(items=[CategoryOut.model_validate(c) for c in rows], next_cursor=cursor)


@router.post(
    "/categories",
    response_model=CategoryOut,
    status_code=status.HTTP_201_CREATED,
    tags=["catalog"],
    responses=error_responses(409),
)
async def create_category(
    body: CategoryCreate, principal: CatalogWrite, db: DbSession
) -> CategoryOut:
    category = await service.create_category(
        db, actor=principal.actor, name=body.name, slug=body.slug, parent_id=body.parent_id
    )
    return CategoryOut.model_validate(category)


@router.get(
    "/categories/{category_id}", response_model=CategoryOut, tags=["catalog"], responses=NOT_FOUND
)
async def get_category(
    category_id: uuid.UUID, principal: CatalogRead, db: DbSession
) -> CategoryOut:
    return CategoryOut.model_validate(await service.get_category(db, category_id))


@router.patch(
    "/categories/{category_id}", response_model=CategoryOut, tags=["catalog"], responses=CONFLICT
)
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, principal: CatalogWrite, db: DbSession
) -> CategoryOut:
    category = await service.get_category(db, category_id)
    await service.update_category(
        db, category, actor=principal.actor, changes=body.model_dump(exclude_unset=True)
    )
    return CategoryOut.model_validate(category)


@router.delete(
    "/categories/{category_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["catalog"],
    responses=NOT_FOUND,
    summary="Delete a category (its children move to the top level)",
)
async def delete_category(category_id: uuid.UUID, principal: CatalogWrite, db: DbSession) -> None:
    await service.delete_category(
        db, await service.get_category(db, category_id), actor=principal.actor
    )


# -- products ------------------------------------------------------------------------------


@router.get("/products", response_model=Page[ProductSummary], tags=["catalog"])
async def list_products(
    principal: CatalogRead,
    db: DbSession,
    page: Paging,
    q: Annotated[str | None, Query(max_length=200, description="Search title and SKU")] = None,
    product_status: Annotated[list[ProductStatus] | None, Query(alias="status")] = None,
    category_id: uuid.UUID | None = None,
    vendor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[ProductSummary]:
    rows, cursor = await repository.list_products(
        db, page, q=q, status=product_status or (), category_id=category_id, vendor=vendor
    )
    return Page(items=[ProductSummary.model_validate(p) for p in rows], next_cursor=cursor)


@router.get(
    "/products/low-stock",
    response_model=Page[LowStockOut],
    tags=["catalog"],
    summary="Active variants at or below the low-stock threshold, emptiest first",
)
async def low_stock(
    principal: CatalogRead, db: DbSession, page: Paging, settings: SettingsDep
) -> Page[LowStockOut]:
    rows, cursor = await repository.low_stock(db, page, threshold=settings.low_stock_threshold)
    variants = await _variants_out(db, [variant for variant, _ in rows])
    items = [
        LowStockOut(**out.model_dump(), product_title=title)
        for out, (_, title) in zip(variants, rows, strict=True)
    ]
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/products",
    response_model=ProductOut,
    status_code=status.HTTP_201_CREATED,
    tags=["catalog"],
    responses=error_responses(409),
)
async def create_product(
    body: ProductCreate, principal: CatalogWrite, db: DbSession, settings: SettingsDep
) -> ProductOut:
    values = body.model_dump(exclude={"variants", "external_ids"})
    variants: list[dict[str, Any]] = [
        {**v.model_dump(exclude={"external_ids"}), "external_ids": _refs(v.external_ids)}
        for v in body.variants
    ]
    product = await service.create_product(
        db,
        settings,
        actor=principal.actor,
        external_ids=_refs(body.external_ids) or [],
        variants=variants,
        **values,
    )
    return await product_out(db, product)


@router.get(
    "/products/{product_id}", response_model=ProductOut, tags=["catalog"], responses=NOT_FOUND
)
async def get_product(product_id: uuid.UUID, principal: CatalogRead, db: DbSession) -> ProductOut:
    return await product_out(db, await service.get_product(db, product_id))


@router.patch(
    "/products/{product_id}", response_model=ProductOut, tags=["catalog"], responses=CONFLICT
)
async def update_product(
    product_id: uuid.UUID,
    body: ProductUpdate,
    principal: CatalogWrite,
    db: DbSession,
    settings: SettingsDep,
) -> ProductOut:
    product = await service.get_product(db, product_id)
    changes = body.model_dump(exclude_unset=True, exclude={"external_ids"})
    if "external_ids" in body.model_fields_set:
        changes["external_ids"] = _refs(body.external_ids)
    await service.update_product(db, settings, product, actor=principal.actor, changes=changes)
    return await product_out(db, product)


@router.delete(
    "/products/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["catalog"],
    responses=NOT_FOUND,
    summary="Archive a product, or with permanent=true delete it (orders keep their snapshot)",
)
async def delete_product(
    product_id: uuid.UUID, principal: CatalogWrite, db: DbSession, permanent: bool = False
) -> None:
    product = await service.get_product(db, product_id)
    if permanent:
        await service.delete_product(db, product, actor=principal.actor)
    else:
        await service.archive_product(db, product, actor=principal.actor)


# -- variants ------------------------------------------------------------------------------


@router.get(
    "/products/{product_id}/variants",
    response_model=list[VariantOut],
    tags=["catalog"],
    responses=NOT_FOUND,
)
async def list_variants(
    product_id: uuid.UUID, principal: CatalogRead, db: DbSession
) -> list[VariantOut]:
    product = await service.get_product(db, product_id)
    return await _variants_out(db, await repository.variants_of(db, [product.id]))


@router.post(
    "/products/{product_id}/variants",
    response_model=VariantOut,
    status_code=status.HTTP_201_CREATED,
    tags=["catalog"],
    responses=CONFLICT,
)
async def create_variant(
    product_id: uuid.UUID,
    body: VariantCreate,
    principal: CatalogWrite,
    db: DbSession,
    settings: SettingsDep,
) -> VariantOut:
    product = await service.get_product(db, product_id)
    variant = await service.add_variant(
        db,
        settings,
        product,
        actor=principal.actor,
        external_ids=_refs(body.external_ids) or [],
        **body.model_dump(exclude={"external_ids"}),
    )
    return (await _variants_out(db, [variant]))[0]


@router.get(
    "/products/{product_id}/variants/{variant_id}",
    response_model=VariantOut,
    tags=["catalog"],
    responses=NOT_FOUND,
)
async def get_variant(
    product_id: uuid.UUID, variant_id: uuid.UUID, principal: CatalogRead, db: DbSession
) -> VariantOut:
    product = await service.get_product(db, product_id)
    return (await _variants_out(db, [await service.get_variant(db, product, variant_id)]))[0]


@router.patch(
    "/products/{product_id}/variants/{variant_id}",
    response_model=VariantOut,
    tags=["catalog"],
    responses=CONFLICT,
)
async def update_variant(
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    body: VariantUpdate,
    principal: CatalogWrite,
    db: DbSession,
) -> VariantOut:
    product = await service.get_product(db, product_id)
    variant = await service.get_variant(db, product, variant_id)
    changes = body.model_dump(exclude_unset=True, exclude={"external_ids"})
    if "external_ids" in body.model_fields_set:
        changes["external_ids"] = _refs(body.external_ids)
    await service.update_variant(db, variant, actor=principal.actor, changes=changes)
    return (await _variants_out(db, [variant]))[0]


@router.delete(
    "/products/{product_id}/variants/{variant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["catalog"],
    responses=NOT_FOUND,
)
async def delete_variant(
    product_id: uuid.UUID, variant_id: uuid.UUID, principal: CatalogWrite, db: DbSession
) -> None:
    product = await service.get_product(db, product_id)
    await service.delete_variant(
        db, await service.get_variant(db, product, variant_id), actor=principal.actor
    )
