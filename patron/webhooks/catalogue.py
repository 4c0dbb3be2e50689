"""The events a subscription can choose, and which audit actions raise them."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
    "customer.created": "A customer was created (panel, API or a store).",
    "customer.updated": "A customer's profile, emails, phones, addresses or external IDs changed.",
    "customer.merged": "A duplicate was merged into this customer; data.merged_id is gone.",
    "customer.deleted": "A customer was deleted or erased; only its id is sent.",
    "order.created": "An order was placed or recorded.",
    "order.updated": "An order changed: status, payment, refund, shipment, return or cancellation.",
    "consent.changed": "A customer's consent for a channel and purpose changed.",
}

# sent only by "send a test event"; nobody subscribes to it
TEST_EVENT = "webhook.test"

# audit action -> webhook event type; an action missing here raises nothing
AUDIT_ACTIONS: dict[str, str] = {
    "customer.created": "customer.created",
    "customer.updated": "customer.updated",
    "customer.email_added": "customer.updated",
    "customer.phone_added": "customer.updated",
    "customer.contact_removed": "customer.updated",
    "customer.address_added": "customer.updated",
    "customer.address_updated": "customer.updated",
    "customer.address_removed": "customer.updated",
    "customer.external_id_added": "customer.updated",
    "customer.merged": "customer.merged",
    "customer.deleted": "customer.deleted",
    "customer.erased": "customer.deleted",
    "customer.consent_changed": "consent.changed",
    "order.created": "order.created",
    "order.updated": "order.updated",
    "order.cancelled": "order.updated",
    "order.payment_recorded": "order.updated",
    "order.payment_updated": "order.updated",
    "order.refunded": "order.updated",
    "order.shipment_created": "order.updated",
    "order.shipment_updated": "order.updated",
    "order.return_created": "order.updated",
    "order.return_updated": "order.updated",
}
