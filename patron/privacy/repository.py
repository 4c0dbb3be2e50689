"""Privacy queries: the requests, and everything Patron holds about one customer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    String,
    and_,
    cast,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from patron.auth.principal import Principal
from patron.auth.scoping import visible_to
from patron.errors import NotFound
from patron.kit.pagination import PageParams, paginate
from patron.models import (
    AnonymousVisitor,
    Attachment,
    AuditEvent,
    Cart,
    Consent,
    ConsentEvent,
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerExternalId,
    CustomerMetrics,
    CustomerPhone,
    Order,
    OrderLine,
    OrderReturn,
    OutboundDelivery,
    Payment,
    PrivacyRequest,
    Refund,
    ReturnLine,
    Segment,
    SegmentMember,
    SegmentMembershipChange,
    Shipment,
    ShipmentEvent,
    StoreConnection,
    TimelineEntry,
    TrackingEvent,
    WebhookReceipt,
)

KIND_SCOPES = {"export": "customers:export", "erasure": "customers:erase"}


def _readable(principal: Principal) -> ColumnElement[bool]:
    """Requests the principal may see: of a kind their permissions cover, about a customer in
    their record scope (store-wide requests only with record scope "all")."""
    kinds = [kind for kind, scope in KIND_SCOPES.items() if principal.has(scope)]
    if principal.has("customers:erase") and principal.record_scope == "all":
        kinds.append("shop_erasure")
    in_scope = select(Customer.id).where(visible_to(principal, owner=Customer.owner_id))
    about = (
        PrivacyRequest.customer_id.in_(in_scope.scalar_subquery())
        if principal.record_scope != "all"
        else true()
    )
    return and_(PrivacyRequest.kind.in_(kinds), about)


async def request_for(
    db: AsyncSession, principal: Principal, request_id: uuid.UUID, *, kind: str | None = None
) -> PrivacyRequest:
    query = select(PrivacyRequest).where(PrivacyRequest.id == request_id, _readable(principal))
    if kind is not None:
        query = query.where(PrivacyRequest.kind == kind)
    request = await db.scalar(query)
    if request is None:
        raise NotFound("No such privacy request.", code="privacy_request_not_found")
    return request


async def locked_request(db: AsyncSession, request_id: uuid.UUID) -> PrivacyRequest | None:
    return await db.scalar(
        select(PrivacyRequest).where(PrivacyRequest.id == request_id).with_for_update()
    )


async def requests_page(
    db: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    status: str | None = None,
    kind: str | None = None,
) -> tuple[list[PrivacyRequest], str | None]:
    """The requests the principal may see, newest first."""
    query = select(PrivacyRequest).where(_readable(principal))
    if status:
        query = query.where(PrivacyRequest.status == status)
    if kind:
        query = query.where(PrivacyRequest.kind == kind)
    return await paginate(
        db, query, order=[PrivacyRequest.requested_at, PrivacyRequest.id], params=params
    )


async def pending_erasure(db: AsyncSession, customer_id: uuid.UUID) -> PrivacyRequest | None:
    return await db.scalar(
        select(PrivacyRequest).where(
            PrivacyRequest.customer_id == customer_id,
            PrivacyRequest.kind == "erasure",
            PrivacyRequest.status.in_(("queued", "running")),
        )
    )


async def expired_exports(db: AsyncSession, now: datetime) -> list[PrivacyRequest]:
    rows = await db.scalars(
        select(PrivacyRequest)
        .where(PrivacyRequest.file_path != "", PrivacyRequest.expires_at <= now)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def export_files_of(db: AsyncSession, customer_ids: list[uuid.UUID]) -> list[PrivacyRequest]:
    rows = await db.scalars(
        select(PrivacyRequest).where(
            PrivacyRequest.customer_id.in_(customer_ids), PrivacyRequest.file_path != ""
        )
    )
    return list(rows)


async def customer_labels(db: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Customer]:
    if not ids:
        return {}
    rows = await db.scalars(select(Customer).where(Customer.id.in_(ids)))
    return {row.id: row for row in rows}


async def connection_names(db: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await db.execute(
        select(StoreConnection.id, StoreConnection.name).where(StoreConnection.id.in_(ids))
    )
    return {row.id: row.name for row in rows}


# -- one customer's data ----------------------------------------------------------------------


async def identities(db: AsyncSession, customer_id: uuid.UUID) -> list[Customer]:
    """The customer and every record merged into them (their rows keep old profile values)."""
    rows = await db.scalars(
        select(Customer)
        .where(or_(Customer.id == customer_id, Customer.merged_into_id == customer_id))
        .order_by(Customer.id != customer_id, Customer.created_at)
    )
    return list(rows)


async def rows_of(
    db: AsyncSession, model: Any, customer_ids: Sequence[uuid.UUID], *order_by: Any
) -> list[Any]:
    """Every row of ``model`` whose ``customer_id`` is one of ``customer_ids``."""
    rows = await db.scalars(
        select(model).where(model.customer_id.in_(customer_ids)).order_by(*order_by)
    )
    return list(rows)


async def rows_of_orders(
    db: AsyncSession, model: Any, order_ids: Sequence[uuid.UUID], *order_by: Any
) -> list[Any]:
    rows = await db.scalars(select(model).where(model.order_id.in_(order_ids)).order_by(*order_by))
    return list(rows)


async def customer_tables(db: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[str, list[Any]]:
    """The rows an export lists per customer, in a stable order."""
    return {
        "emails": await rows_of(db, CustomerEmail, ids, CustomerEmail.created_at),
        "phones": await rows_of(db, CustomerPhone, ids, CustomerPhone.created_at),
        "addresses": await rows_of(db, CustomerAddress, ids, CustomerAddress.created_at),
        "external_ids": await rows_of(db, CustomerExternalId, ids, CustomerExternalId.created_at),
        "consents": await rows_of(db, Consent, ids, Consent.channel, Consent.purpose),
        "consent_history": await rows_of(db, ConsentEvent, ids, ConsentEvent.occurred_at),
        "metrics": await rows_of(db, CustomerMetrics, ids),
        "carts": await rows_of(db, Cart, ids, Cart.created_at),
        "timeline": await rows_of(db, TimelineEntry, ids, TimelineEntry.occurred_at),
        "attachments": await rows_of(db, Attachment, ids, Attachment.created_at),
        "tracking_events": await rows_of(db, TrackingEvent, ids, TrackingEvent.occurred_at),
        "anonymous_ids": await rows_of(db, AnonymousVisitor, ids, AnonymousVisitor.identified_at),
    }


async def orders_of(db: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Order]:
    return await rows_of(db, Order, ids, Order.placed_at)


async def order_tables(db: AsyncSession, order_ids: Sequence[uuid.UUID]) -> dict[str, list[Any]]:
    shipments = await rows_of_orders(db, Shipment, order_ids, Shipment.created_at)
    returns = await rows_of_orders(db, OrderReturn, order_ids, OrderReturn.created_at)
    shipment_events = await db.scalars(
        select(ShipmentEvent)
        .where(ShipmentEvent.shipment_id.in_([s.id for s in shipments]))
        .order_by(ShipmentEvent.occurred_at)
    )
    return_lines = await db.scalars(
        select(ReturnLine).where(ReturnLine.return_id.in_([r.id for r in returns]))
    )
    return {
        "lines": await rows_of_orders(db, OrderLine, order_ids, OrderLine.position),
        "payments": await rows_of_orders(db, Payment, order_ids, Payment.processed_at),
        "refunds": await rows_of_orders(db, Refund, order_ids, Refund.processed_at),
        "shipments": shipments,
        "shipment_events": list(shipment_events),
        "returns": returns,
        "return_lines": list(return_lines),
    }


async def segment_memberships(db: AsyncSession, ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    rows = await db.execute(
        select(Segment.id, Segment.name, SegmentMember.added_at)
        .join(SegmentMember, SegmentMember.segment_id == Segment.id)
        .where(SegmentMember.customer_id.in_(ids))
        .order_by(Segment.name)
    )
    return [{"segment_id": r.id, "name": r.name, "member_since": r.added_at} for r in rows]


async def segment_changes(db: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Any]:
    rows = await db.scalars(
        select(SegmentMembershipChange)
        .where(SegmentMembershipChange.customer_id.in_(ids))
        .order_by(SegmentMembershipChange.occurred_at)
    )
    return list(rows)


def _about(object_ids: Sequence[str]) -> ColumnElement[bool]:
    return or_(
        OutboundDelivery.payload["data"]["id"].astext.in_(object_ids),
        OutboundDelivery.payload["data"]["customer_id"].astext.in_(object_ids),
    )


async def outbound_deliveries(db: AsyncSession, object_ids: Sequence[str]) -> list[Any]:
    rows = await db.scalars(
        select(OutboundDelivery).where(_about(object_ids)).order_by(OutboundDelivery.created_at)
    )
    return list(rows)


def audit_about(object_ids: Sequence[str]) -> Select[AuditEvent]:
    return select(AuditEvent).where(AuditEvent.object_id.in_(object_ids))


async def audit_entries(db: AsyncSession, object_ids: Sequence[str]) -> list[AuditEvent]:
    rows = await db.scalars(
        audit_about(object_ids).order_by(AuditEvent.occurred_at, AuditEvent.id).limit(10_000)
    )
    return list(rows)


async def store_orders(
    db: AsyncSession, channel_id: uuid.UUID, external_ids: Sequence[str]
) -> list[uuid.UUID]:
    rows = await db.scalars(
        select(Order.id).where(Order.channel_id == channel_id, Order.external_id.in_(external_ids))
    )
    return list(rows)


async def receipts_naming(db: AsyncSession, connection_id: uuid.UUID, keys: set[str]) -> list[Any]:
    """(received_at, id, topic, body) of the connection's receipts whose raw body contains one
    of ``keys`` somewhere (the caller reads the JSON to be sure)."""
    if not keys:
        return []
    patterns = [cast(f"%{key}%".encode(), LargeBinary) for key in sorted(keys)]
    rows = await db.execute(
        select(
            WebhookReceipt.received_at,
            WebhookReceipt.id,
            WebhookReceipt.topic,
            WebhookReceipt.body,
        ).where(
            WebhookReceipt.connection_id == connection_id,
            or_(*[WebhookReceipt.body.op("LIKE", is_comparison=True)(p) for p in patterns]),
        )
    )
    return list(rows)


async def connections_of_channels(
    db: AsyncSession, channel_ids: set[uuid.UUID]
) -> list[StoreConnection]:
    if not channel_ids:
        return []
    rows = await db.scalars(
        select(StoreConnection).where(StoreConnection.channel_id.in_(channel_ids))
    )
    return list(rows)


async def known_only_through(db: AsyncSession, connection: StoreConnection) -> list[uuid.UUID]:
    """Live customers the store brought and nothing else knows: created by the store (their
    source is its name), with no order, cart or external id in any other channel, and no
    notes or activities written by staff."""
    channel_id = connection.channel_id

    def elsewhere(model: Any) -> Any:
        return select(model.customer_id).where(
            or_(model.channel_id != channel_id, model.channel_id.is_(None)),
            model.customer_id.is_not(None),
        )

    staff_notes = select(TimelineEntry.customer_id).where(
        TimelineEntry.actor_type.in_(("user", "api_key")),
        TimelineEntry.kind.in_(("note", "call", "meeting", "email_logged")),
    )
    others = elsewhere(Order).union(elsewhere(Cart), elsewhere(CustomerExternalId), staff_notes)
    other_ids = others.subquery()
    rows = await db.scalars(
        select(Customer.id).where(
            Customer.source == connection.name[:100],
            Customer.id.not_in(select(other_ids.c.customer_id)),
            Customer.merged_into_id.is_(None),
            Customer.erased_at.is_(None),
        )
    )
    return list(rows)


def text_of(column: Any) -> Any:
    return cast(column, String)


def bytes_text(column: Any) -> Any:
    """A bytea column as text: UTF-8 when it is, else its escaped form (never an error)."""
    return func.patron_bytes_text(column)
