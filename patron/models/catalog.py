"""The product catalog synced from the stores: products, variants, categories."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin, TimestampMixin

PRODUCT_STATUSES = ("active", "draft", "archived")
PRICE = Numeric(12, 2)

product_category = Table(
    "product_category",
    Base.metadata,
    Column("product_id", ForeignKey("product.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "category_id", ForeignKey("category.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Category(IdMixin, Base):
    """A category or collection; categories nest through ``parent_id``."""

    __tablename__ = "category"
    __table_args__ = (CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{0,99}$'", name="slug"),)

    name: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("category.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Product(IdMixin, TimestampMixin, Base):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'draft', 'archived')",
            name="status",
        ),
        Index(
            "ix_product_title_trgm",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
        Index("ix_product_tags", "tags", postgresql_using="gin"),
    )

    title: Mapped[str] = mapped_column(String(255))
    handle: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, server_default="")
    vendor: Mapped[str] = mapped_column(String(200), server_default="")
    product_type: Mapped[str] = mapped_column(String(200), server_default="")
    status: Mapped[str] = mapped_column(String(10), server_default="active")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    images: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class ProductVariant(IdMixin, TimestampMixin, Base):
    __tablename__ = "product_variant"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint(
            "compare_at_price IS NULL OR compare_at_price >= 0", name="compare_not_negative"
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("status IN ('active', 'inactive')", name="status"),
        Index("uq_product_variant_sku", "sku", unique=True, postgresql_where=text("sku <> ''")),
        Index("ix_product_variant_inventory", "inventory_quantity"),
        Index(
            "ix_product_variant_sku_trgm",
            "sku",
            postgresql_using="gin",
            postgresql_ops={"sku": "gin_trgm_ops"},
        ),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(255), server_default="Default")
    sku: Mapped[str] = mapped_column(String(100), server_default="")
    price: Mapped[Decimal] = mapped_column(PRICE)
    compare_at_price: Mapped[Decimal | None] = mapped_column(PRICE)
    currency: Mapped[str] = mapped_column(String(3))
    inventory_quantity: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(String(10), server_default="active")
    position: Mapped[int] = mapped_column(Integer, server_default="0")


class ProductExternalId(IdMixin, Base):
    """A product's or a variant's ID in a store; unique per channel and kind."""

    __tablename__ = "product_external_id"
    __table_args__ = (
        UniqueConstraint("channel_id", "kind", "external_id"),
        CheckConstraint("kind IN ('product', 'variant')", name="kind"),
    )

    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    external_id: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("product_variant.id", ondelete="CASCADE")
    )
