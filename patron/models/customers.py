"""Customers: profile, contact data, addresses, external IDs, consent, custom fields, metrics."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CITEXT, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin, TimestampMixin

LIFECYCLE_STAGES = ("lead", "prospect", "customer", "repeat", "vip", "at_risk", "churned")
# the RFM groups, best first (their R/F ranges: patron.analytics.rfm.GROUPS)
RFM_GROUPS = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
)
CHANNEL_KINDS = (
    "online_store",
    "shopify",
    "woocommerce",
    "stripe",
    "pos",
    "marketplace",
    "manual",
    "import",
)
CONSENT_CHANNELS = ("email", "sms")
CONSENT_STATUSES = ("subscribed", "unsubscribed", "pending", "never_asked")
CONTACT_FREQUENCIES = ("any", "weekly", "monthly", "quarterly", "never")
CUSTOM_FIELD_ENTITIES = ("customer", "order", "product")
CUSTOM_FIELD_TYPES = ("text", "number", "date", "boolean", "select", "multiselect")
MONEY = Numeric(14, 2)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Channel(IdMixin, Base):
    """Where orders come from: a store (Shopify, WooCommerce), POS, manual entry, an import."""

    __tablename__ = "channel"
    __table_args__ = (CheckConstraint(_in("kind", CHANNEL_KINDS), name="kind"),)

    name: Mapped[str] = mapped_column(CITEXT, unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Customer(IdMixin, TimestampMixin, Base):
    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint(_in("lifecycle_stage", LIFECYCLE_STAGES), name="lifecycle_stage"),
        CheckConstraint(
            f"contact_frequency IS NULL OR {_in('contact_frequency', CONTACT_FREQUENCIES)}",
            name="contact_frequency",
        ),
        CheckConstraint("country IS NULL OR country ~ '^[A-Z]{2}$'", name="country"),
        CheckConstraint("phone IS NULL OR phone ~ '^\\+[1-9][0-9]{6,14}$'", name="phone_e164"),
        CheckConstraint("merged_into_id IS NULL OR merged_into_id <> id", name="not_self_merged"),
        Index(
            "uq_customer_email_live",
            "email",
            unique=True,
            postgresql_where=text("merged_into_id IS NULL AND email IS NOT NULL"),
        ),
        Index(
            "ix_customer_search_name_trgm",
            "search_name",
            postgresql_using="gin",
            postgresql_ops={"search_name": "gin_trgm_ops"},
        ),
        Index(
            "ix_customer_email_trgm",
            text("lower(email::text) gin_trgm_ops"),
            postgresql_using="gin",
        ),
        Index(
            "ix_customer_phone_trgm",
            "phone",
            postgresql_using="gin",
            postgresql_ops={"phone": "gin_trgm_ops"},
        ),
        Index("ix_customer_tags", "tags", postgresql_using="gin"),
        Index(
            "ix_customer_custom_fields",
            "custom_fields",
            postgresql_using="gin",
            postgresql_ops={"custom_fields": "jsonb_path_ops"},
        ),
        Index("ix_customer_created", "created_at", "id"),
        Index("ix_customer_search_name_sort", "search_name", "id"),  # the list's name sort
        Index("ix_customer_lifecycle", "lifecycle_stage"),
        Index("ix_customer_country", "country"),
        Index("ix_customer_owner", "owner_id"),
        # the staff report: customers owned and their orders by index-only scans (0024)
        Index("ix_customer_owned", "owner_id", "id", postgresql_include=["merged_into_id"]),
        # the customers report: signups of a period by index-only scan (0024)
        Index(
            "ix_customer_created_live",
            "created_at",
            postgresql_include=["owner_id"],
            postgresql_where=text("merged_into_id IS NULL"),
        ),
        Index("ix_customer_merged_into", "merged_into_id"),
    )

    first_name: Mapped[str] = mapped_column(String(100), server_default="")
    last_name: Mapped[str] = mapped_column(String(100), server_default="")
    email: Mapped[str | None] = mapped_column(CITEXT)
    phone: Mapped[str | None] = mapped_column(String(16))
    birthday: Mapped[date | None] = mapped_column(Date)
    locale: Mapped[str | None] = mapped_column(String(20))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    company: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    lifecycle_stage: Mapped[str] = mapped_column(String(12), server_default="lead")
    lifecycle_locked: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    source: Mapped[str] = mapped_column(String(100), server_default="")
    preferred_channels: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    interests: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    contact_frequency: Mapped[str | None] = mapped_column(String(10))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL")
    )
    merged_at: Mapped[datetime | None]
    # set by a GDPR erasure: the row stays as an anonymised tombstone so orders keep a customer
    erased_at: Mapped[datetime | None]
    search_name: Mapped[str] = mapped_column(
        Text,
        Computed(
            "lower(first_name || ' ' || last_name || ' ' || coalesce(company, ''))",
            persisted=True,
        ),
    )

    @property
    def name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.company or self.email or self.phone or "Unnamed customer"


class CustomerEmail(IdMixin, Base):
    """Other email addresses of a customer (the primary one is ``customer.email``)."""

    __tablename__ = "customer_email"
    __table_args__ = (UniqueConstraint("customer_id", "email"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(CITEXT, index=True)
    label: Mapped[str] = mapped_column(String(40), server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CustomerPhone(IdMixin, Base):
    __tablename__ = "customer_phone"
    __table_args__ = (
        UniqueConstraint("customer_id", "phone"),
        CheckConstraint("phone ~ '^\\+[1-9][0-9]{6,14}$'", name="phone_e164"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(16), index=True)
    label: Mapped[str] = mapped_column(String(40), server_default="")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CustomerAddress(IdMixin, TimestampMixin, Base):
    __tablename__ = "customer_address"
    __table_args__ = (
        CheckConstraint("country ~ '^[A-Z]{2}$'", name="country"),
        Index(
            "uq_customer_address_default_billing",
            "customer_id",
            unique=True,
            postgresql_where=text("is_default_billing"),
        ),
        Index(
            "uq_customer_address_default_shipping",
            "customer_id",
            unique=True,
            postgresql_where=text("is_default_shipping"),
        ),
        Index("ix_customer_address_place", "country", "postal_code"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(40), server_default="")
    first_name: Mapped[str] = mapped_column(String(100), server_default="")
    last_name: Mapped[str] = mapped_column(String(100), server_default="")
    company: Mapped[str] = mapped_column(String(200), server_default="")
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str] = mapped_column(String(200), server_default="")
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(100), server_default="")
    postal_code: Mapped[str] = mapped_column(String(20), server_default="")
    country: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(String(16))
    is_default_billing: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_default_shipping: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class CustomerExternalId(IdMixin, Base):
    """The customer's ID in a store; unique per channel."""

    __tablename__ = "customer_external_id"
    __table_args__ = (UniqueConstraint("channel_id", "external_id"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Consent(IdMixin, Base):
    """The current consent of a customer for one channel and purpose."""

    __tablename__ = "consent"
    __table_args__ = (
        UniqueConstraint("customer_id", "channel", "purpose"),
        CheckConstraint(_in("channel", CONSENT_CHANNELS), name="channel"),
        CheckConstraint(_in("status", CONSENT_STATUSES), name="status"),
        Index("ix_consent_channel_status", "channel", "purpose", "status"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(40), server_default="marketing")
    status: Mapped[str] = mapped_column(String(12))
    changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    source: Mapped[str] = mapped_column(String(100), server_default="")
    form_text_version: Mapped[str] = mapped_column(String(100), server_default="")
    ip: Mapped[str | None] = mapped_column(String(64))


class ConsentEvent(IdMixin, Base):
    """Every consent change, kept for the record (who, when, how)."""

    __tablename__ = "consent_event"
    __table_args__ = (Index("ix_consent_event_customer", "customer_id", "occurred_at"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))
    previous_status: Mapped[str | None] = mapped_column(String(12))
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    source: Mapped[str] = mapped_column(String(100), server_default="")
    form_text_version: Mapped[str] = mapped_column(String(100), server_default="")
    ip: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str] = mapped_column(Text, server_default="")


class CustomFieldDefinition(IdMixin, Base):
    __tablename__ = "custom_field_definition"
    __table_args__ = (
        UniqueConstraint("entity", "key"),
        CheckConstraint(_in("entity", CUSTOM_FIELD_ENTITIES), name="entity"),
        CheckConstraint(_in("field_type", CUSTOM_FIELD_TYPES), name="field_type"),
        CheckConstraint("key ~ '^[a-z][a-z0-9_]{0,39}$'", name="key_slug"),
    )

    entity: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    field_type: Mapped[str] = mapped_column(String(12))
    required: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    options: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CustomerMetrics(Base):
    """Per-customer order figures, rewritten in the transaction of every order change.

    Every live customer has a row (zeros until they order): a trigger on ``customer`` inserts
    it (migration 0026), so the list can inner-join and sort on the figures' indexes.
    """

    __tablename__ = "customer_metrics"
    __table_args__ = (
        Index("ix_customer_metrics_total_spent", "total_spent", "customer_id"),
        Index("ix_customer_metrics_orders_count", "orders_count", "customer_id"),
        Index("ix_customer_metrics_last_order", "last_order_at", "customer_id"),
        # the customer list's last-order sort, "never ordered" first (migration 0026)
        Index(
            "ix_customer_metrics_last_order_sort",
            text("coalesce(last_order_at, '1970-01-01 00:00:00+00'::timestamp with time zone)"),
            "customer_id",
        ),
        Index("ix_customer_metrics_first_order", "first_order_at", "customer_id"),
        # the RFM grid and the list's score filters; last_seen_at has no index on purpose, so
        # the per-batch update from tracking events stays a HOT update
        Index(
            "ix_customer_metrics_rfm_scores",
            "recency_score",
            "frequency_score",
            "monetary_score",
            postgresql_where=text("recency_score IS NOT NULL"),
        ),
        Index(
            "ix_customer_metrics_rfm_group",
            "rfm_group",
            postgresql_where=text("rfm_group IS NOT NULL"),
        ),
        *(
            CheckConstraint(f"{score} BETWEEN 1 AND 5", name=score)
            for score in ("recency_score", "frequency_score", "monetary_score")
        ),
        CheckConstraint(
            "rfm_group IN (" + ", ".join(f"'{name}'" for name in RFM_GROUPS) + ")",
            name="rfm_group",
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True
    )
    orders_count: Mapped[int] = mapped_column(Integer, server_default="0")
    total_spent: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    refunded_total: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    average_order_value: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None]
    items_bought: Mapped[int] = mapped_column(Integer, server_default="0")
    returns_count: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    recency_score: Mapped[int | None] = mapped_column(SmallInteger)
    frequency_score: Mapped[int | None] = mapped_column(SmallInteger)
    monetary_score: Mapped[int | None] = mapped_column(SmallInteger)
    rfm_group: Mapped[str | None] = mapped_column(Text)
    rfm_scored_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]


class SavedView(IdMixin, Base):
    """A user's named list filter (the list page's query string)."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("user_id", "entity", "name"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DuplicateCandidate(IdMixin, Base):
    """A pair of customers that look like the same person, waiting for review."""

    __tablename__ = "duplicate_candidate"
    __table_args__ = (
        UniqueConstraint("customer_a_id", "customer_b_id"),
        CheckConstraint("customer_a_id < customer_b_id", name="ordered_pair"),
        CheckConstraint("status IN ('open', 'dismissed', 'merged')", name="status"),
        Index("ix_duplicate_candidate_open", "status", "score"),
    )

    customer_a_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    customer_b_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10), server_default="open")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
