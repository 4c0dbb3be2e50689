"""Erasure: a customer's personal data removed or irreversibly anonymised everywhere.

The customer row stays as a tombstone (``erased_at`` set, every personal field emptied) so
that the orders, kept for bookkeeping, still have a customer; ids merged into the customer
resolve to the tombstone and answer "erased". Rows that only describe the person are
deleted; rows that other records need (orders, audit rows, order history) are kept with the
person's values replaced. Everything runs in the caller's transaction, and running it again
finds nothing left to do.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.config import Settings
from patron.integrations.shopify.topics import PRIVACY_TOPICS
from patron.kit.time import utcnow
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
    CustomerPhone,
    DuplicateCandidate,
    IdempotencyKey,
    ImportJob,
    JobFailure,
    MailMessage,
    Order,
    OrderReturn,
    OutboundDelivery,
    Payment,
    PrivacyRequest,
    Refund,
    Segment,
    SegmentMember,
    SegmentMembershipChange,
    Shipment,
    ShipmentEvent,
    StaffNotification,
    StoreConnection,
    StoreRecordVersion,
    TimelineEntry,
    TrackingEvent,
    TrackingEventKey,
    WebhookReceipt,
)
from patron.models.timeline import KIND_GROUPS
from patron.privacy import repository
from patron.privacy.scrub import Needles, redact_audit_details
from patron.timeline.files import remove_stored_file

# a raw delivery about an erased person keeps its place in the pipeline, not its content;
# processing recognises this body and ignores it
REDACTED_BODY = b'{"redacted": true}'
# the entries about orders: the feed's "orders" group, one list for both
ORDER_TIMELINE_KINDS = KIND_GROUPS["orders"]
CLEARED_PROFILE: dict[str, Any] = {
    "first_name": "",
    "last_name": "",
    "email": None,
    "phone": None,
    "birthday": None,
    "locale": None,
    "time_zone": None,
    "company": None,
    "country": None,
    "tags": [],
    "preferred_channels": [],
    "interests": [],
    "contact_frequency": None,
    "custom_fields": {},
    "lifecycle_locked": False,
}


async def _count(db: AsyncSession, statement: Any) -> int:
    result = await db.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _full_name(first: str | None, last: str | None) -> str | None:
    """A name worth searching for: a first name alone would match other people's rows."""
    return f"{first.strip()} {last.strip()}" if first and last and first.strip() else None


def _distinctive(value: str | None, length: int) -> str | None:
    return value if value and len(value.strip()) >= length else None


async def needles_for(db: AsyncSession, ids: Sequence[uuid.UUID]) -> Needles:
    """Every email, phone, full name, company and street the customer (and records merged
    into them) has; short or generic values are left out, as they would match others."""
    values: list[str | None] = []
    for person in await db.scalars(select(Customer).where(Customer.id.in_(ids))):
        values += [
            person.email,
            person.phone,
            _full_name(person.first_name, person.last_name),
            _distinctive(person.company, 6),
        ]
    values += await db.scalars(
        select(CustomerEmail.email).where(CustomerEmail.customer_id.in_(ids))
    )
    values += await db.scalars(
        select(CustomerPhone.phone).where(CustomerPhone.customer_id.in_(ids))
    )
    for address in await db.scalars(
        select(CustomerAddress).where(CustomerAddress.customer_id.in_(ids))
    ):
        values += [
            address.line1,
            _distinctive(address.line2, 8),
            address.phone,
            _full_name(address.first_name, address.last_name),
        ]
    for order in await db.scalars(select(Order).where(Order.customer_id.in_(ids))):
        for snapshot in (order.billing_address, order.shipping_address):
            values += _address_values(snapshot)
    values += await db.scalars(select(Cart.email).where(Cart.customer_id.in_(ids)))
    return Needles.of(values)


def _address_values(snapshot: dict[str, Any] | None) -> list[str | None]:
    if not snapshot:
        return []

    def text(key: str) -> str | None:
        value = snapshot.get(key)
        return str(value) if value else None

    return [
        _full_name(text("first_name"), text("last_name")),
        text("line1"),
        text("address1"),
        _distinctive(text("line2"), 8),
        _distinctive(text("address2"), 8),
        text("phone"),
        text("email"),
        _distinctive(text("company"), 6),
        text("name") if " " in (text("name") or "") else None,
    ]


async def erase_customer(
    db: AsyncSession,
    settings: Settings,
    *,
    customer_id: uuid.UUID,
    store_orders: tuple[uuid.UUID, Sequence[str]] | None = None,
) -> dict[str, int]:
    """Erase the customer (and the records merged into them); returns what was done, as
    counts. ``store_orders`` (channel, external ids) names more orders to anonymise."""
    people = await repository.identities(db, customer_id)
    ids = [person.id for person in people]
    counts: dict[str, int] = {}
    if not ids:
        return counts
    needles = await needles_for(db, ids)
    order_ids = list(await db.scalars(select(Order.id).where(Order.customer_id.in_(ids))))
    if store_orders is not None:
        order_ids += await repository.store_orders(db, *store_orders)
    related = await _related_object_ids(db, ids, order_ids)

    await _scrub_receipts(db, ids, order_ids, needles, counts)
    counts["audit_rows_redacted"] = await _redact_audit(db, related, needles)
    counts["outbound_deliveries"] = await _count(
        db,
        delete(OutboundDelivery).where(
            or_(
                OutboundDelivery.payload["data"]["id"].astext.in_(related),
                OutboundDelivery.payload["data"]["customer_id"].astext.in_(related),
                *_like(repository.text_of(OutboundDelivery.payload), needles),
            )
        ),
    )
    await _forget_logs(db, ids, needles, counts)
    await _delete_files(db, settings, ids, counts)
    counts["timeline_entries"] = await _count(
        db,
        delete(TimelineEntry).where(
            TimelineEntry.customer_id.in_(ids),
            or_(TimelineEntry.order_id.is_(None), TimelineEntry.kind.not_in(ORDER_TIMELINE_KINDS)),
        ),
    )
    await _scrub_order_history(db, ids, needles)
    await _forget_tracking(db, ids, counts)
    for name, model in (
        ("emails", CustomerEmail),
        ("phones", CustomerPhone),
        ("addresses", CustomerAddress),
        ("external_ids", CustomerExternalId),
        ("consents", Consent),
        ("consent_events", ConsentEvent),
        ("segment_memberships", SegmentMember),
        ("segment_changes", SegmentMembershipChange),
    ):
        counts[name] = await _count(db, delete(model).where(model.customer_id.in_(ids)))
    await db.execute(
        delete(DuplicateCandidate).where(
            or_(
                DuplicateCandidate.customer_a_id.in_(ids), DuplicateCandidate.customer_b_id.in_(ids)
            )
        )
    )
    counts["carts"] = await _count(
        db,
        update(Cart)
        .where(
            or_(Cart.customer_id.in_(ids), Cart.email.in_(_emails(needles))),
            or_(Cart.email.is_not(None), Cart.checkout_url != ""),
        )
        .values(email=None, checkout_url=""),
    )
    counts["orders_anonymised"] = await anonymise_orders(db, order_ids, needles)
    await _forget_exports(db, settings, ids)
    now = utcnow()
    await db.execute(
        update(Customer)
        .where(Customer.id.in_(ids))
        .values(**CLEARED_PROFILE, erased_at=func.coalesce(Customer.erased_at, now))
        .execution_options(synchronize_session=False)
    )
    for person in people:
        await db.refresh(person)
    return {key: value for key, value in counts.items() if value}


def _emails(needles: Needles) -> list[str]:
    return [v for v in needles.values if "@" in v]


def _like(column: Any, needles: Needles) -> list[Any]:
    return [column.ilike(pattern) for pattern in needles.like_patterns()]


async def _related_object_ids(
    db: AsyncSession, ids: Sequence[uuid.UUID], order_ids: Sequence[uuid.UUID]
) -> list[str]:
    """Ids of every record about the person that audit rows and webhooks may name."""
    found: set[uuid.UUID] = {*ids, *order_ids}
    for model in (
        CustomerEmail,
        CustomerPhone,
        CustomerAddress,
        CustomerExternalId,
        Consent,
        TimelineEntry,
        Attachment,
        Cart,
    ):
        found.update(await db.scalars(select(model.id).where(model.customer_id.in_(ids))))
    for order_model in (Payment, Refund, Shipment, OrderReturn):
        found.update(
            await db.scalars(select(order_model.id).where(order_model.order_id.in_(order_ids)))
        )
    return sorted(str(value) for value in found)


async def _redact_audit(db: AsyncSession, related: list[str], needles: Needles) -> int:
    """Audit rows stay (who did what, when) without the person's values: rows about their
    records lose every copied value, any other row loses the strings that identify them."""
    matches = [AuditEvent.object_id.in_(related)]
    matches += _like(repository.text_of(AuditEvent.details), needles)
    rows = list(await db.execute(select(AuditEvent).where(or_(*matches))))
    if not rows:
        return 0
    await db.execute(text("SELECT set_config('patron.audit_redaction', 'on', true)"))
    redacted = 0
    for (event,) in rows:
        details = dict(event.details or {})
        cleaned = (
            redact_audit_details(details, needles)
            if event.object_id in related
            else needles.scrub(details)
        )
        if cleaned != details:
            await db.execute(
                update(AuditEvent)
                .where(AuditEvent.occurred_at == event.occurred_at, AuditEvent.id == event.id)
                .values(details=cleaned)
                .execution_options(synchronize_session=False)
            )
            redacted += 1
    await db.execute(text("SELECT set_config('patron.audit_redaction', 'off', true)"))
    return redacted


def _names_them(payload: Any, customer_keys: set[str], order_keys: set[str], topic: str) -> bool:
    """Does a store payload describe one of these store customers or orders?"""
    if not isinstance(payload, dict):
        return False
    top = str(payload.get("id", ""))
    if topic.startswith("customers/") and top in customer_keys:
        return True
    if (topic.startswith(("orders/", "checkouts/"))) and top in order_keys:
        return True
    if str(payload.get("order_id", "")) in order_keys:
        return True
    customer = payload.get("customer")
    return isinstance(customer, dict) and str(customer.get("id", "")) in customer_keys


async def _scrub_receipts(
    db: AsyncSession,
    ids: Sequence[uuid.UUID],
    order_ids: Sequence[uuid.UUID],
    needles: Needles,
    counts: dict[str, int],
) -> None:
    """Raw deliveries about the person: found by the store's ids of the customer and their
    orders in each connection, and by their emails or phones anywhere in a body."""
    external = await db.execute(
        select(CustomerExternalId.channel_id, CustomerExternalId.external_id).where(
            CustomerExternalId.customer_id.in_(ids)
        )
    )
    customer_keys: dict[uuid.UUID, set[str]] = {}
    for channel_id, external_id in external:
        customer_keys.setdefault(channel_id, set()).add(external_id)
    order_rows = await db.execute(
        select(Order.channel_id, Order.external_id).where(
            Order.id.in_(order_ids), Order.external_id.is_not(None)
        )
    )
    order_keys: dict[uuid.UUID, set[str]] = {}
    for order_channel, order_key in order_rows:
        if order_channel is not None and order_key is not None:
            order_keys.setdefault(order_channel, set()).add(order_key)
    targets: set[tuple[Any, uuid.UUID]] = set()
    connections = await repository.connections_of_channels(db, {*customer_keys, *order_keys})
    for connection in connections:
        mine = customer_keys.get(connection.channel_id, set())
        theirs = order_keys.get(connection.channel_id, set())
        for received_at, receipt_id, topic, body in await repository.receipts_naming(
            db, connection.id, mine | theirs
        ):
            if body == REDACTED_BODY:
                continue
            try:
                payload = json.loads(body)
            except ValueError:
                continue
            if _names_them(payload, mine, theirs, topic):
                targets.add((received_at, receipt_id))
    if needles:
        rows = await db.execute(
            select(WebhookReceipt.received_at, WebhookReceipt.id).where(
                WebhookReceipt.body != REDACTED_BODY,
                or_(
                    *_like(repository.bytes_text(WebhookReceipt.body), needles),
                    *_like(WebhookReceipt.error, needles),
                    *_like(WebhookReceipt.outcome, needles),
                ),
            )
        )
        targets.update((row.received_at, row.id) for row in rows)
    for received_at, receipt_id in targets:
        await db.execute(
            update(WebhookReceipt)
            .where(WebhookReceipt.received_at == received_at, WebhookReceipt.id == receipt_id)
            .values(body=REDACTED_BODY, error="", outcome="Redacted by a privacy erasure.")
            .execution_options(synchronize_session=False)
        )
    counts["webhook_receipts_redacted"] = len(targets)


async def scrub_receipt(db: AsyncSession, receipt_id: uuid.UUID) -> None:
    """Replace one delivery's body (a store's privacy request, once acted upon)."""
    await db.execute(
        update(WebhookReceipt)
        .where(WebhookReceipt.id == receipt_id)
        .values(body=REDACTED_BODY)
        .execution_options(synchronize_session=False)
    )


async def _forget_logs(
    db: AsyncSession, ids: Sequence[uuid.UUID], needles: Needles, counts: dict[str, int]
) -> None:
    """System emails, staff notifications, stored API answers, job errors, import samples."""
    links = [StaffNotification.link.contains(str(value)) for value in ids]
    counts["staff_notifications"] = await _count(
        db,
        delete(StaffNotification).where(or_(*links, *_like(StaffNotification.message, needles))),
    )
    if not needles:
        return
    counts["emails_logged"] = await _count(
        db,
        delete(MailMessage).where(
            or_(
                *_like(MailMessage.to_address, needles),
                *_like(MailMessage.subject, needles),
                *_like(MailMessage.body_text, needles),
                *_like(MailMessage.body_html, needles),
            )
        ),
    )
    counts["stored_api_answers"] = await _count(
        db,
        delete(IdempotencyKey).where(
            or_(*_like(repository.bytes_text(IdempotencyKey.response_body), needles))
        ),
    )
    for failure in await db.scalars(
        select(JobFailure).where(
            or_(*_like(JobFailure.error, needles), *_like(JobFailure.traceback, needles))
        )
    ):
        failure.error = needles.scrub(failure.error)
        failure.traceback = needles.scrub(failure.traceback)
    for job in await db.scalars(
        select(ImportJob).where(
            or_(
                *_like(repository.text_of(ImportJob.errors_sample), needles),
                *_like(ImportJob.failure, needles),
            )
        )
    ):
        job.errors_sample = needles.scrub(job.errors_sample)
        job.failure = needles.scrub(job.failure)
    for request in await db.scalars(
        select(PrivacyRequest).where(or_(*_like(PrivacyRequest.error, needles)))
    ):
        request.error = needles.scrub(request.error)
    # a segment condition may name the person (email = "…"): the literal goes, the segment stays
    for segment in await db.scalars(
        select(Segment).where(
            or_(
                *_like(Segment.expression, needles),
                *_like(repository.text_of(Segment.ast), needles),
                *_like(Segment.description, needles),
            )
        )
    ):
        segment.expression = needles.scrub(segment.expression)
        segment.ast = needles.scrub(segment.ast)
        segment.description = needles.scrub(segment.description)
    await db.flush()


async def _delete_files(
    db: AsyncSession, settings: Settings, ids: Sequence[uuid.UUID], counts: dict[str, int]
) -> None:
    attachments = await repository.rows_of(db, Attachment, ids)
    for attachment in attachments:
        remove_stored_file(settings, attachment)
    counts["attachments"] = await _count(
        db, delete(Attachment).where(Attachment.customer_id.in_(ids))
    )


async def _scrub_order_history(
    db: AsyncSession, ids: Sequence[uuid.UUID], needles: Needles
) -> None:
    """Order history entries stay on the orders, without bodies or the person's values."""
    for entry in await repository.rows_of(db, TimelineEntry, ids):
        entry.body, entry.body_html = None, None
        entry.summary = needles.scrub(entry.summary)
        entry.data = needles.scrub(entry.data)
        entry.actor_label = needles.scrub(entry.actor_label)
    await db.flush()


async def _forget_tracking(
    db: AsyncSession, ids: Sequence[uuid.UUID], counts: dict[str, int]
) -> None:
    """Their events, and the anonymous visitor ids that led to them (events included)."""
    anonymous = list(
        await db.scalars(
            select(AnonymousVisitor.anonymous_id).where(AnonymousVisitor.customer_id.in_(ids))
        )
    )
    condition: ColumnElement[bool] = TrackingEvent.customer_id.in_(ids)
    if anonymous:
        condition = or_(condition, TrackingEvent.anonymous_id.in_(anonymous))
    removed = list(
        await db.scalars(delete(TrackingEvent).where(condition).returning(TrackingEvent.id))
    )
    if removed:
        await db.execute(delete(TrackingEventKey).where(TrackingEventKey.event_id.in_(removed)))
    await db.execute(delete(AnonymousVisitor).where(AnonymousVisitor.customer_id.in_(ids)))
    counts["tracking_events"] = len(removed)
    counts["anonymous_ids"] = len(anonymous)


def _country_only(snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    """An order's address reduced to its country (kept for tax and sales by country)."""
    if not snapshot:
        return None
    country = snapshot.get("country") or snapshot.get("country_code")
    return {"country": country} if country else None


async def anonymise_orders(
    db: AsyncSession, order_ids: Sequence[uuid.UUID], needles: Needles
) -> int:
    """Orders stay (lines, amounts, statuses, dates) for the books; addresses, notes and
    tracking details that point at a person go."""
    if not order_ids:
        return 0
    orders = list(await db.scalars(select(Order).where(Order.id.in_(order_ids))))
    changed = 0
    for order in orders:
        before = (order.billing_address, order.shipping_address, order.note, order.cancel_reason)
        order.billing_address = _country_only(order.billing_address)
        order.shipping_address = _country_only(order.shipping_address)
        order.note = ""
        order.cancel_reason = needles.scrub(order.cancel_reason)
        order.custom_fields = needles.scrub(order.custom_fields)
        after = (order.billing_address, order.shipping_address, order.note, order.cancel_reason)
        changed += before != after
    shipments = list(await db.scalars(select(Shipment).where(Shipment.order_id.in_(order_ids))))
    for shipment in shipments:
        shipment.tracking_number, shipment.tracking_url = "", ""
    await db.execute(
        update(ShipmentEvent)
        .where(ShipmentEvent.shipment_id.in_([s.id for s in shipments]))
        .values(location="", message="")
        .execution_options(synchronize_session=False)
    )
    for model in (Refund, OrderReturn):
        await db.execute(
            update(model)
            .where(model.order_id.in_(order_ids))
            .values(note="")
            .execution_options(synchronize_session=False)
        )
    for payment in await db.scalars(select(Payment).where(Payment.order_id.in_(order_ids))):
        payment.reference = needles.scrub(payment.reference)
    await db.flush()
    return changed


async def _forget_exports(db: AsyncSession, settings: Settings, ids: Sequence[uuid.UUID]) -> None:
    """An export made before the erasure is personal data too."""
    for request in await repository.export_files_of(db, list(ids)):
        export_path(settings, request.file_path).unlink(missing_ok=True)
        request.file_path, request.file_size = "", None
        if request.status == "done":
            request.status = "expired"
    await db.flush()


def export_path(settings: Settings, name: str) -> Path:
    return settings.data_dir / "privacy" / name


async def erase_store(
    db: AsyncSession, settings: Settings, *, connection: StoreConnection
) -> dict[str, int]:
    """A store's shop/redact: the customers known only through it are erased, every other
    customer loses the link to it, its orders lose their addresses, and its raw deliveries
    and version stamps are deleted."""
    counts: dict[str, int] = {"customers_erased": 0}
    for customer_id in await repository.known_only_through(db, connection):
        await erase_customer(db, settings, customer_id=customer_id)
        counts["customers_erased"] += 1
    counts["external_ids"] = await _count(
        db, delete(CustomerExternalId).where(CustomerExternalId.channel_id == connection.channel_id)
    )
    order_ids = list(
        await db.scalars(select(Order.id).where(Order.channel_id == connection.channel_id))
    )
    counts["orders_anonymised"] = await anonymise_orders(db, order_ids, Needles())
    counts["carts"] = await _count(
        db,
        update(Cart)
        .where(Cart.channel_id == connection.channel_id)
        .values(email=None, checkout_url=""),
    )
    of_store = WebhookReceipt.connection_id == connection.id
    counts["webhook_receipts"] = await _count(
        db, delete(WebhookReceipt).where(of_store, WebhookReceipt.topic.not_in(PRIVACY_TOPICS))
    )
    # the privacy requests themselves stay on record, emptied
    await _count(
        db,
        update(WebhookReceipt)
        .where(of_store, WebhookReceipt.topic.in_(PRIVACY_TOPICS))
        .values(body=REDACTED_BODY, error=""),
    )
    await db.execute(
        delete(StoreRecordVersion).where(StoreRecordVersion.connection_id == connection.id)
    )
    return {key: value for key, value in counts.items() if value}
