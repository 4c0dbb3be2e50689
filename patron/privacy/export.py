"""Export: everything Patron holds about one customer, as one JSON document."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from patron.kit.time import utcnow
from patron.models import Customer
from patron.privacy import repository
from patron.webhooks.outbox import jsonable

FORMAT_VERSION = 1
# internal values that say nothing about the person and only help an attacker
HIDDEN = {"attachments": {"storage_key"}}


def row(value: Any, hidden: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """A model instance as JSON values, every column."""
    mapper = inspect(value).mapper
    return {
        attribute.key: jsonable(getattr(value, attribute.key))
        for attribute in mapper.column_attrs
        if attribute.key not in hidden
    }


def rows(
    values: list[Any], hidden: frozenset[str] | set[str] = frozenset()
) -> list[dict[str, Any]]:
    return [row(value, hidden) for value in values]


async def build(db: AsyncSession, customer: Customer) -> dict[str, Any]:
    """The document handed to the person: profile, contact data, consents with their history,
    orders with everything attached, carts, timeline, files (listed), tracking events,
    segments, outbound webhooks about them and the audit log's entries about them."""
    people = await repository.identities(db, customer.id)
    ids = [person.id for person in people]
    tables = await repository.customer_tables(db, ids)
    orders = await repository.orders_of(db, ids)
    order_ids = [order.id for order in orders]
    order_parts = await repository.order_tables(db, order_ids)
    object_ids = [str(value) for value in [*ids, *order_ids]]
    document: dict[str, Any] = {
        "format": "patron.personal-data-export",
        "version": FORMAT_VERSION,
        "generated_at": utcnow().isoformat(),
        "customer": row(customer, {"search_name"}),
        "merged_records": [row(p, {"search_name"}) for p in people if p.id != customer.id],
        "custom_fields": dict(customer.custom_fields),
        "preferences": {
            "locale": customer.locale,
            "time_zone": customer.time_zone,
            "preferred_channels": list(customer.preferred_channels),
            "interests": list(customer.interests),
            "contact_frequency": customer.contact_frequency,
        },
    }
    for name, values in tables.items():
        document[name] = rows(values, HIDDEN.get(name, set()))
    document["orders"] = [_order(order, order_parts) for order in orders]
    document["segments"] = jsonable(await repository.segment_memberships(db, ids))
    document["segment_history"] = rows(await repository.segment_changes(db, ids))
    document["outbound_webhooks"] = rows(await repository.outbound_deliveries(db, object_ids))
    document["audit_log"] = rows(await repository.audit_entries(db, object_ids))
    return document


def _order(order: Any, parts: dict[str, list[Any]]) -> dict[str, Any]:
    out = row(order)
    shipments = [s for s in parts["shipments"] if s.order_id == order.id]
    returns = [r for r in parts["returns"] if r.order_id == order.id]
    out["lines"] = rows([line for line in parts["lines"] if line.order_id == order.id])
    out["payments"] = rows([p for p in parts["payments"] if p.order_id == order.id])
    out["refunds"] = rows([r for r in parts["refunds"] if r.order_id == order.id])
    out["shipments"] = [
        {
            **row(shipment),
            "events": rows([e for e in parts["shipment_events"] if e.shipment_id == shipment.id]),
        }
        for shipment in shipments
    ]
    out["returns"] = [
        {
            **row(item),
            "lines": rows([line for line in parts["return_lines"] if line.return_id == item.id]),
        }
        for item in returns
    ]
    return out
