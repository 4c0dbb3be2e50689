"""Bulk actions on customers: set-based updates over a selection or a whole filter."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from patron.analytics import rollups
from patron.audit import service as audit
from patron.auth.principal import Principal
from patron.config import Settings
from patron.customers import listing, metrics
from patron.customers.listing import CustomerQuery
from patron.customers.schemas import BulkAction, BulkResult
from patron.customers.service import _check_owner, normalise_tags
from patron.errors import InvalidInput
from patron.models import Customer
from patron.segments.changes import mark_customers_changed

MAX_REFRESH = 50_000


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        message, code="invalid_bulk_action", details=[{"field": field, "message": message}]
    )


async def _targets(
    db: AsyncSession, principal: Principal, action: BulkAction
) -> tuple[Select[Any], dict[str, Any]]:
    """The customers the action is for, and how the audit row describes them. A filter is
    validated once, here (its segment, if any, must be one the principal may use)."""
    if action.ids is not None and action.filter is not None:
        raise _invalid("ids", "Give either ids or a filter, not both.")
    if action.ids is not None:
        query = listing.matching_ids(principal, CustomerQuery()).where(Customer.id.in_(action.ids))
        return query, {"ids": len(action.ids)}
    if action.filter is not None:
        try:
            filters = CustomerQuery.model_validate(action.filter)
        except ValidationError as error:
            raise _invalid(
                "filter", f"The filter is not valid: {error.errors()[0]['msg']}"
            ) from None
        await listing.check_segment(db, principal, filters)
        return listing.matching_ids(principal, filters), {"filter": filters.active_filters()}
    raise _invalid("ids", "Choose the customers: give ids or a filter.")


async def _values(db: AsyncSession, action: BulkAction) -> tuple[dict[str, Any], Any]:
    """The SET values and the condition that skips rows already in that state."""
    if action.action in ("tag", "untag"):
        if not action.tag or not normalise_tags([action.tag]):
            raise _invalid("tag", "Give the tag.")
        tag = normalise_tags([action.tag])[0]
        has = Customer.tags.contains([tag])
        if action.action == "tag":
            return {"tags": func.array_append(Customer.tags, tag)}, ~has
        return {"tags": func.array_remove(Customer.tags, tag)}, has
    if action.action == "set_owner":
        owner = await _check_owner(db, action.owner_id)
        return {"owner_id": owner}, Customer.owner_id.is_distinct_from(owner)
    if action.lifecycle_stage is None:
        raise _invalid("lifecycle_stage", "Give the lifecycle stage, or `auto`.")
    if action.lifecycle_stage == "auto":
        return {"lifecycle_locked": False}, Customer.lifecycle_locked
    stage = action.lifecycle_stage
    return (
        {"lifecycle_stage": stage, "lifecycle_locked": True},
        (Customer.lifecycle_stage != stage) | ~Customer.lifecycle_locked,
    )


async def apply(
    db: AsyncSession, settings: Settings, *, principal: Principal, action: BulkAction
) -> BulkResult:
    targets, described = await _targets(db, principal, action)
    values, needs_change = await _values(db, action)
    matched = int(await db.scalar(select(func.count()).select_from(targets.subquery())) or 0)
    if not action.confirm:
        return BulkResult(matched=matched, changed=0, applied=False)
    # the rows locked in id order first, in the same statement, as an order change locks its
    # customers (staff_rollups.LOCK_OWNERS): the two then queue instead of deadlocking
    locked = (
        select(Customer.id)
        .where(Customer.id.in_(targets.scalar_subquery()), needs_change)
        .order_by(Customer.id)
        .with_for_update(key_share=True)
    )
    statement = (
        update(Customer)
        .where(Customer.id.in_(locked.scalar_subquery()), needs_change)
        .values(**values, updated_at=func.now())
        .returning(Customer.id)
        .execution_options(synchronize_session=False)
    )
    changed_ids = list((await db.scalars(statement)).all())
    await mark_customers_changed(db, changed_ids)
    if action.action == "set_owner" and changed_ids:
        await rollups.owners_changed(db)
    if action.lifecycle_stage == "auto" and changed_ids:
        for start in range(0, len(changed_ids), MAX_REFRESH):
            await metrics.refresh(db, settings, changed_ids[start : start + MAX_REFRESH])
    await audit.record(
        db,
        action=f"customer.bulk_{action.action}",
        actor=principal.actor,
        object_type="customer",
        details={
            **described,
            "matched": matched,
            "changed": len(changed_ids),
            "value": action.tag
            or (str(action.owner_id) if action.owner_id else None)
            or action.lifecycle_stage,
        },
    )
    return BulkResult(matched=matched, changed=len(changed_ids), applied=True)
