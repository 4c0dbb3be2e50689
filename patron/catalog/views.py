"""Panel pages for the catalog: the searchable product list, low stock, a product's page, and
a small form to correct a variant's price or stock (the stores stay the source of truth)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from patron.auth.principal import Principal
from patron.catalog import repository, service
from patron.catalog.auth import CatalogRead, CatalogWrite
from patron.db.deps import DbSession
from patron.errors import CRMError, InvalidInput
from patron.kit.contact import parse_amount
from patron.kit.pagination import PageParams
from patron.kit.urls import image_source
from patron.models import Product, ProductVariant
from patron.models.catalog import PRODUCT_STATUSES
from patron.orders import repository as orders_repository
from patron.orders.api.common import SettingsDep
from patron.orders.views.common import PAGE_SIZE, list_url
from patron.web.templating import redirect, render, templates

router = APIRouter()
templates.env.filters.setdefault("image_source", image_source)
Cursor = Annotated[str, Query(max_length=500)]
CATEGORY_CHOICES = 500
MAX_STOCK = 1_000_000_000


@dataclass(frozen=True)
class Stock:
    """A product's variants summed up for the list."""

    variants: int
    inventory: int
    low_price: Decimal | None
    high_price: Decimal | None
    currency: str


def _stock(variants: list[ProductVariant]) -> Stock:
    prices = [v.price for v in variants]
    return Stock(
        variants=len(variants),
        inventory=sum(v.inventory_quantity for v in variants),
        low_price=min(prices) if prices else None,
        high_price=max(prices) if prices else None,
        currency=variants[0].currency if variants else "",
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@router.get("/products")
async def product_list(
    request: Request,
    principal: CatalogRead,
    db: DbSession,
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[list[str] | None, Query(max_length=3)] = None,
    category: Annotated[str, Query(max_length=40)] = "",
    cursor: Cursor = "",
) -> Response:
    statuses = [s for s in PRODUCT_STATUSES if s in (status or [])]
    category_id = _uuid(category)
    filters: dict[str, Any] = {"q": q.strip(), "status": statuses, "category": category_id or ""}
    active = {key: value for key, value in filters.items() if value}
    canonical = urlencode(active, doseq=True)
    try:
        products, next_cursor = await repository.list_products(
            db,
            PageParams(limit=PAGE_SIZE, cursor=cursor or None),
            q=q.strip() or None,
            status=statuses,
            category_id=category_id,
        )
    except CRMError:
        return redirect(
            request,
            list_url("/products", canonical),
            flash="That page no longer exists.",
            category="warning",
        )
    variants = await repository.variants_of(db, [p.id for p in products])
    by_product: dict[uuid.UUID, list[ProductVariant]] = {p.id: [] for p in products}
    for variant in variants:
        by_product[variant.product_id].append(variant)
    categories, _ = await repository.list_categories(db, PageParams(limit=CATEGORY_CHOICES))
    return render(
        request,
        "catalog/list.html",
        {
            "products": products,
            "stock": {pid: _stock(rows) for pid, rows in by_product.items()},
            "filters": filters,
            "canonical": canonical,
            "statuses": PRODUCT_STATUSES,
            "categories": sorted(categories, key=lambda c: c.name.lower()),
            "next_url": f"/products?{urlencode({**active, 'cursor': next_cursor}, doseq=True)}"
            if next_cursor
            else None,
            "first_url": list_url("/products", canonical) if cursor else None,
        },
    )


@router.get("/products/low-stock")
async def low_stock(
    request: Request,
    principal: CatalogRead,
    db: DbSession,
    settings: SettingsDep,
    cursor: Cursor = "",
) -> Response:
    try:
        rows, next_cursor = await repository.low_stock(
            db,
            PageParams(limit=PAGE_SIZE, cursor=cursor or None),
            threshold=settings.low_stock_threshold,
        )
    except CRMError:
        return redirect(
            request, "/products/low-stock", flash="That page no longer exists.", category="warning"
        )
    return render(
        request,
        "catalog/low_stock.html",
        {
            "rows": rows,
            "threshold": settings.low_stock_threshold,
            "next_url": f"/products/low-stock?cursor={next_cursor}" if next_cursor else None,
            "first_url": "/products/low-stock" if cursor else None,
        },
    )


async def product_page(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    product: Product,
    *,
    status_code: int = 200,
    failed: uuid.UUID | None = None,
    error: str = "",
    error_code: str = "",
    typed: dict[str, Any] | None = None,
) -> HTMLResponse:
    await db.refresh(product)
    variants = await repository.variants_of(db, [product.id])
    category_ids = (await repository.category_ids_of(db, [product.id]))[product.id]
    external = await repository.external_ids_of(db, [product.id])
    channels = {c.id: c for c in await orders_repository.list_channels(db)}
    return render(
        request,
        "catalog/detail.html",
        {
            "product": product,
            "variants": variants,
            "categories": sorted(
                (await repository.categories_by_ids(db, category_ids)).values(),
                key=lambda c: c.name.lower(),
            ),
            "product_ids": [ref for ref in external if ref.kind == "product"],
            "variant_ids": {
                v.id: [ref for ref in external if ref.variant_id == v.id] for v in variants
            },
            "channels": channels,
            "can_write": principal.has("catalog:write"),
            "can_see_orders": principal.has("orders:read"),
            "failed": failed,
            "error": error,
            "error_code": error_code,
            "typed": typed or {},
        },
        status_code=status_code,
    )


@router.get("/products/{product_id}")
async def product_detail(
    request: Request, product_id: uuid.UUID, principal: CatalogRead, db: DbSession
) -> Response:
    product = await service.get_product(db, product_id)
    return await product_page(request, db, principal, product)


def _variant_changes(form: FormData) -> dict[str, Any]:
    def text(name: str) -> str:
        value = form.get(name)
        return value.strip()[:30] if isinstance(value, str) else ""

    compare_at = text("compare_at_price")
    raw_stock = text("inventory_quantity")
    try:
        inventory = int(raw_stock)
    except ValueError:
        message = f"{raw_stock!r} is not a whole number of units."
        raise InvalidInput(
            message,
            code="invalid_quantity",
            details=[{"field": "inventory_quantity", "message": message}],
        ) from None
    if abs(inventory) > MAX_STOCK:
        raise InvalidInput("That stock level is out of range.", code="invalid_quantity")
    return {
        "price": parse_amount(text("price"), field="price"),
        "compare_at_price": parse_amount(compare_at, field="compare_at_price")
        if compare_at
        else None,
        "inventory_quantity": inventory,
    }


@router.post("/products/{product_id}/variants/{variant_id}")
async def update_variant(
    request: Request,
    product_id: uuid.UUID,
    variant_id: uuid.UUID,
    principal: CatalogWrite,
    db: DbSession,
) -> Response:
    product = await service.get_product(db, product_id)
    variant = await service.get_variant(db, product, variant_id)
    form = await request.form()
    try:
        async with db.begin_nested():
            await service.update_variant(
                db, variant, actor=principal.actor, changes=_variant_changes(form)
            )
    except CRMError as error:
        if error.status not in (409, 422):
            raise
        return await product_page(
            request,
            db,
            principal,
            product,
            status_code=error.status,
            failed=variant.id,
            error=error.message,
            error_code=error.code,
            typed={k: v for k, v in form.items() if k != "csrf_token"},
        )
    label = variant.sku or variant.title
    return redirect(
        request, f"/products/{product.id}#variant-{variant.id}", flash=f"{label} saved."
    )
