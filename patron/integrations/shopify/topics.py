"""The Shopify webhook topics Patron handles."""

from __future__ import annotations

ORDER_TOPICS = frozenset(
    {"orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled"}
)
FULFILLMENT_TOPICS = frozenset({"fulfillments/create", "fulfillments/update"})
CUSTOMER_TOPICS = frozenset({"customers/create", "customers/update"})
PRODUCT_TOPICS = frozenset({"products/create", "products/update"})
CHECKOUT_TOPICS = frozenset({"checkouts/create", "checkouts/update"})
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
OTHER_TOPICS = frozenset(
    {
        "refunds/create",
        "customers/delete",
        "products/delete",
        "inventory_levels/update",
        "app/uninstalled",
    }
)
TOPICS = (
    ORDER_TOPICS
    | FULFILLMENT_TOPICS
    | CUSTOMER_TOPICS
    | PRODUCT_TOPICS
    | CHECKOUT_TOPICS
    | PRIVACY_TOPICS
    | OTHER_TOPICS
)
