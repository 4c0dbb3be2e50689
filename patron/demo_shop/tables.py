"""The columns the generator fills, per table, in the order the loaders write the tables
(parents before children, so foreign keys hold at every step)."""

from __future__ import annotations

TABLES: dict[str, tuple[str, ...]] = {
    "channel": ("id", "name", "kind", "created_at"),
    "category": ("id", "name", "slug", "parent_id", "created_at"),
    "product": (
        "id", "title", "handle", "description", "vendor", "product_type", "status", "tags",
        "images", "custom_fields", "created_at", "updated_at",
    ),
    "product_variant": (
        "id", "product_id", "title", "sku", "price", "compare_at_price", "currency",
        "inventory_quantity", "status", "position", "created_at", "updated_at",
    ),
    "product_category": ("product_id", "category_id"),
    "product_external_id": ("id", "channel_id", "kind", "external_id", "product_id", "variant_id"),
    "customer": (
        "id", "first_name", "last_name", "email", "phone", "birthday", "locale", "time_zone",
        "company", "country", "tags", "lifecycle_stage", "lifecycle_locked", "owner_id", "source",
        "preferred_channels", "interests", "contact_frequency", "custom_fields", "created_at",
        "updated_at",
    ),
    "customer_address": (
        "id", "customer_id", "label", "first_name", "last_name", "company", "line1", "line2",
        "city", "region", "postal_code", "country", "phone", "is_default_billing",
        "is_default_shipping", "created_at", "updated_at",
    ),
    "customer_email": ("id", "customer_id", "email", "label", "created_at"),
    "customer_phone": ("id", "customer_id", "phone", "label", "created_at"),
    "customer_external_id": ("id", "customer_id", "channel_id", "external_id", "created_at"),
    "consent": (
        "id", "customer_id", "channel", "purpose", "status", "changed_at", "source",
        "form_text_version", "ip",
    ),
    "consent_event": (
        "id", "customer_id", "channel", "purpose", "status", "previous_status", "occurred_at",
        "source", "form_text_version", "ip", "actor_label",
    ),
    "shop_order": (
        "id", "number", "customer_id", "channel_id", "external_id", "placed_at",
        "financial_status", "fulfillment_status", "cancelled_at", "cancel_reason", "currency",
        "exchange_rate", "subtotal", "discount_total", "shipping_total", "tax_total", "total",
        "refunded_total", "items_count", "discount_codes", "billing_address", "shipping_address",
        "note", "tags", "custom_fields", "source_updated_at", "created_at", "updated_at",
    ),
    "order_line": (
        "id", "order_id", "product_id", "variant_id", "title", "variant_title", "sku",
        "unit_price", "quantity", "discount_total", "total", "position",
    ),
    "payment": (
        "id", "order_id", "gateway", "kind", "status", "amount", "currency", "reference",
        "external_id", "processed_at", "created_at",
    ),
    "order_return": (
        "id", "order_id", "number", "status", "reason", "note", "refund_amount", "restock",
        "approved_at", "received_at", "resolved_at", "created_at", "updated_at",
    ),
    "return_line": ("id", "return_id", "order_line_id", "quantity", "reason"),
    "refund": (
        "id", "order_id", "return_id", "amount", "currency", "reason", "note", "restock",
        "external_id", "processed_at", "created_at",
    ),
    "shipment": (
        "id", "order_id", "carrier", "tracking_number", "tracking_url", "status", "lines",
        "notify_customer", "external_id", "shipped_at", "delivered_at", "created_at",
        "updated_at",
    ),
    "shipment_event": ("id", "shipment_id", "status", "message", "location", "occurred_at"),
    "cart": (
        "id", "customer_id", "email", "channel_id", "external_id", "currency", "value", "items",
        "status", "checkout_url", "last_activity_at", "abandoned_at", "recovered_order_id",
        "created_at", "updated_at",
    ),
    "timeline_entry": (
        "id", "customer_id", "order_id", "kind", "occurred_at", "actor_type", "actor_id",
        "actor_label", "summary", "data", "body", "body_html", "pinned", "created_at",
        "updated_at",
    ),
}  # fmt: skip

# JSONB columns: the COPY loader wraps their values, the ORM loader passes them as they are
JSON_COLUMNS: dict[str, frozenset[str]] = {
    "product": frozenset({"custom_fields"}),
    "customer": frozenset({"custom_fields"}),
    "shop_order": frozenset({"billing_address", "shipping_address", "custom_fields"}),
    "shipment": frozenset({"lines"}),
    "cart": frozenset({"items"}),
    "timeline_entry": frozenset({"data"}),
}

Rows = dict[str, list[tuple[object, ...]]]


def empty_rows() -> Rows:
    return {table: [] for table in TABLES}
