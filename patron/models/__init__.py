"""Every ORM model, imported here so that metadata and Alembic see them all."""

from patron.models.audit import AuditEvent
from patron.models.catalog import (
    Category,
    Product,
    ProductExternalId,
    ProductVariant,
    product_category,
)
from patron.models.customers import (
    Channel,
    Consent,
    ConsentEvent,
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerExternalId,
    CustomerMetrics,
    CustomerPhone,
    CustomFieldDefinition,
    DuplicateCandidate,
    SavedView,
)
from patron.models.events import AnonymousVisitor, TrackingEvent, TrackingEventKey
from patron.models.imports import ImportJob, ImportMapping
from patron.models.integrations import (
    StoreBackfill,
    StoreConnection,
    StoreRecordVersion,
    WebhookDelivery,
    WebhookReceipt,
)
from patron.models.ops import IdempotencyKey, JobFailure, MailMessage, RateLimitCounter
from patron.models.orders import (
    Cart,
    Order,
    OrderLine,
    OrderReturn,
    Payment,
    Refund,
    ReturnLine,
    Shipment,
    ShipmentEvent,
)
from patron.models.privacy import PrivacyRequest
from patron.models.reports import RollupQueue, SalesDaily, WeeklySummarySent
from patron.models.rfm import RfmCutPoints
from patron.models.segments import (
    Segment,
    SegmentChangedCustomer,
    SegmentMember,
    SegmentMembershipChange,
    SegmentSize,
)
from patron.models.staff import (
    ApiKey,
    AuthToken,
    RecoveryCode,
    Role,
    StaffSession,
    StaffUser,
    Team,
)
from patron.models.timeline import Attachment, StaffNotification, TimelineEntry
from patron.models.webhooks import OutboundAttempt, OutboundDelivery, WebhookSubscription

__all__ = [
    "AnonymousVisitor",
    "ApiKey",
    "Attachment",
    "AuditEvent",
    "AuthToken",
    "Cart",
    "Category",
    "Channel",
    "Consent",
    "ConsentEvent",
    "CustomFieldDefinition",
    "Customer",
    "CustomerAddress",
    "CustomerEmail",
    "CustomerExternalId",
    "CustomerMetrics",
    "CustomerPhone",
    "DuplicateCandidate",
    "IdempotencyKey",
    "ImportJob",
    "ImportMapping",
    "JobFailure",
    "MailMessage",
    "Order",
    "OrderLine",
    "OrderReturn",
    "OutboundAttempt",
    "OutboundDelivery",
    "Payment",
    "PrivacyRequest",
    "Product",
    "ProductExternalId",
    "ProductVariant",
    "RateLimitCounter",
    "RecoveryCode",
    "Refund",
    "ReturnLine",
    "RfmCutPoints",
    "Role",
    "RollupQueue",
    "SalesDaily",
    "SavedView",
    "Segment",
    "SegmentChangedCustomer",
    "SegmentMember",
    "SegmentMembershipChange",
    "SegmentSize",
    "Shipment",
    "ShipmentEvent",
    "StaffNotification",
    "StaffSession",
    "StaffUser",
    "StoreBackfill",
    "StoreConnection",
    "StoreRecordVersion",
    "Team",
    "TimelineEntry",
    "TrackingEvent",
    "TrackingEventKey",
    "WebhookDelivery",
    "WebhookReceipt",
    "WebhookSubscription",
    "WeeklySummarySent",
    "product_category",
]
