"""Categories, products and variants over the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from patron.kit.schemas import Input, Schema

Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
ProductStatus = Literal["active", "draft", "archived"]
VariantStatus = Literal["active", "inactive"]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]


class CategoryOut(Schema):
    id: uuid.UUID
    name: str
    slug: str
    parent_id: uuid.UUID | None
    created_at: datetime


class CategoryCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    slug: Slug | None = Field(default=None, description="Made from the name when left out")
    parent_id: uuid.UUID | None = None


class CategoryUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    slug: Slug | None = None
    parent_id: uuid.UUID | None = None


class ExternalIdIn(Input):
    channel_id: uuid.UUID
    external_id: str = Field(min_length=1, max_length=200)


class ExternalIdOut(Schema):
    channel_id: uuid.UUID
    external_id: str


class VariantCreate(Input):
    title: str = Field(default="Default", min_length=1, max_length=255)
    sku: str = Field(default="", max_length=100)
    price: Price
    compare_at_price: Price | None = None
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="The shop currency when left out"
    )
    inventory_quantity: int = Field(default=0, ge=-1_000_000, le=1_000_000_000)
    status: VariantStatus = "active"
    position: int = Field(default=0, ge=0, le=10_000)
    external_ids: list[ExternalIdIn] = Field(default_factory=list, max_length=20)


class VariantUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=255)
    sku: str | None = Field(default=None, max_length=100)
    price: Price | None = None
    compare_at_price: Price | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    inventory_quantity: int | None = Field(default=None, ge=-1_000_000, le=1_000_000_000)
    status: VariantStatus | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)
    external_ids: list[ExternalIdIn] | None = Field(default=None, max_length=20)


class VariantOut(Schema):
    id: uuid.UUID
    product_id: uuid.UUID
    title: str
    sku: str
    price: Decimal
    compare_at_price: Decimal | None
    currency: str
    inventory_quantity: int
    status: str
    position: int
    external_ids: list[ExternalIdOut] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class LowStockOut(VariantOut):
    product_title: str


class ProductCreate(Input):
    title: str = Field(min_length=1, max_length=255)
    handle: Slug | None = Field(default=None, description="Made from the title when left out")
    description: str = Field(default="", max_length=50_000)
    vendor: str = Field(default="", max_length=200)
    product_type: str = Field(default="", max_length=200)
    status: ProductStatus = "active"
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=100
    )
    images: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=50, description="http(s) URLs"
    )
    category_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    external_ids: list[ExternalIdIn] = Field(default_factory=list, max_length=20)
    variants: list[VariantCreate] = Field(default_factory=list, max_length=250)


class ProductUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=255)
    handle: Slug | None = None
    description: str | None = Field(default=None, max_length=50_000)
    vendor: str | None = Field(default=None, max_length=200)
    product_type: str | None = Field(default=None, max_length=200)
    status: ProductStatus | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=100
    )
    images: list[Annotated[str, Field(max_length=2000)]] | None = Field(default=None, max_length=50)
    category_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    custom_fields: dict[str, Any] | None = Field(
        default=None, description="Replaces every custom field value"
    )
    external_ids: list[ExternalIdIn] | None = Field(default=None, max_length=20)


class ProductSummary(Schema):
    id: uuid.UUID
    title: str
    handle: str
    vendor: str
    product_type: str
    status: str
    tags: list[str]
    images: list[str]
    created_at: datetime
    updated_at: datetime


class ProductOut(ProductSummary):
    description: str
    custom_fields: dict[str, Any]
    category_ids: list[uuid.UUID] = Field(default_factory=list)
    external_ids: list[ExternalIdOut] = Field(default_factory=list)
    variants: list[VariantOut] = Field(default_factory=list)
