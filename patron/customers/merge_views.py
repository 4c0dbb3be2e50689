"""Panel pages for duplicates: the review queue, and merging two customers field by field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from patron.audit import service as audit
from patron.auth.principal import Principal
from patron.customers import duplicates, repository
from patron.customers.auth import CustomerRead, CustomerWrite
from patron.customers.merge import CHOOSABLE, Side, merge
from patron.customers.tasks import find_duplicates
from patron.customers.views.common import LIFECYCLE_LABELS, SettingsDep
from patron.db.deps import DbSession
from patron.errors import Conflict, CRMError, InvalidInput, NotFound
from patron.kit.contact import format_phone
from patron.kit.pagination import PageParams
from patron.models import Customer, StaffUser
from patron.users import repository as users_repository
from patron.web.templating import redirect, render
from patron.worker.enqueue import enqueue

router = APIRouter()
QUEUE_URL = "/customers/duplicates"
PAGE_SIZE = 25
REASONS = {
    "same_email": ("Same email", "bi-envelope"),
    "same_phone": ("Same phone", "bi-telephone"),
    "similar_name_same_address": ("Similar name at the same address", "bi-house"),
}
FIELD_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "birthday": "Birthday",
    "locale": "Language",
    "time_zone": "Time zone",
    "company": "Company",
    "owner_id": "Owner",
    "source": "Source",
    "lifecycle_stage": "Lifecycle stage",
    "contact_frequency": "Contact frequency",
}
MOVES = (
    ("orders", "order", "orders"),
    ("carts", "cart", "carts"),
    ("notes", "note", "notes"),
    ("timeline", "timeline entry", "timeline entries"),
    ("files", "file", "files"),
    ("addresses", "address", "addresses"),
    ("consents", "consent", "consents"),
    ("external_ids", "external ID", "external IDs"),
    ("emails", "other email", "other emails"),
    ("phones", "other phone", "other phones"),
)


@dataclass(frozen=True)
class FieldChoice:
    """One profile field on the merge page: both values and which one survives by default."""

    name: str
    label: str
    survivor: str
    merged: str
    default: Side

    @property
    def same(self) -> bool:
        return self.survivor == self.merged


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _shown(field: str, value: Any, owners: dict[uuid.UUID, StaffUser]) -> str:
    if _empty(value):
        return ""
    if field == "phone":
        return format_phone(value)
    if field == "birthday":
        return str(value.strftime("%d %b %Y"))
    if field == "owner_id":
        owner = owners.get(value)
        return owner.name if owner else "a former colleague"
    if field == "lifecycle_stage":
        return LIFECYCLE_LABELS.get(value, str(value))
    return str(value)


def field_choices(
    survivor: Customer, merged: Customer, owners: dict[uuid.UUID, StaffUser]
) -> list[FieldChoice]:
    """Every choosable field; the survivor's value wins by default unless it has none."""
    choices = []
    for field in CHOOSABLE:
        mine, theirs = getattr(survivor, field), getattr(merged, field)
        default: Side = "merged" if _empty(mine) and not _empty(theirs) else "survivor"
        choices.append(
            FieldChoice(
                name=field,
                label=FIELD_LABELS.get(field, field.replace("_", " ").capitalize()),
                survivor=_shown(field, mine, owners),
                merged=_shown(field, theirs, owners),
                default=default,
            )
        )
    return choices


def moves(counts: dict[str, int]) -> list[str]:
    """``["3 orders", "1 cart"]``: what a merge moves, leaving out what there is none of."""
    return [
        f"{counts[key]} {one if counts[key] == 1 else many}"
        for key, one, many in MOVES
        if counts.get(key)
    ]


def likely_survivor(pair: duplicates.Pair, figures: dict[uuid.UUID, Any]) -> Customer:
    """The customer to keep by default: more orders, then more spent, then the older one."""

    def weight(customer: Customer) -> tuple[int, Any, float]:
        metrics = figures.get(customer.id)
        orders = metrics.orders_count if metrics else 0
        spent = metrics.total_spent if metrics else 0
        return (orders, spent, -customer.created_at.timestamp())

    return max((pair.first, pair.second), key=weight)


# -- the review queue ------------------------------------------------------------------------


@router.get("/customers/duplicates")
async def duplicate_queue(
    request: Request,
    principal: CustomerRead,
    db: DbSession,
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    try:
        pairs, next_cursor = await duplicates.open_pairs(
            db, principal, PageParams(limit=PAGE_SIZE, cursor=cursor or None)
        )
    except CRMError:
        return redirect(request, QUEUE_URL, flash="That page no longer exists.", category="warning")
    ids = list({c.id for pair in pairs for c in (pair.first, pair.second)})
    figures = await repository.metrics_for(db, ids)
    return render(
        request,
        "customers/duplicates.html",
        {
            "pairs": [(pair, likely_survivor(pair, figures)) for pair in pairs],
            "figures": figures,
            "places": await repository.main_addresses(db, ids),
            "reasons": REASONS,
            "can_write": principal.has("customers:write"),
            "next_url": f"{QUEUE_URL}?cursor={next_cursor}" if next_cursor else None,
            "first_url": QUEUE_URL if cursor else None,
        },
    )


@router.post("/customers/duplicates/scan")
async def scan_now(request: Request, principal: CustomerWrite, db: DbSession) -> Response:
    await enqueue(db, find_duplicates)  # a scan already waiting is not queued twice
    return redirect(request, QUEUE_URL, flash="Scanning; refresh in a moment.", category="info")


@router.post("/customers/duplicates/{candidate_id}/dismiss")
async def dismiss_pair(
    request: Request, candidate_id: uuid.UUID, principal: CustomerWrite, db: DbSession
) -> Response:
    try:
        candidate = await duplicates.candidate_for(db, principal, candidate_id)
        await duplicates.dismiss(db, candidate=candidate, actor=principal.actor)
    except NotFound:
        return redirect(
            request, QUEUE_URL, flash="That pair is no longer in the queue.", category="warning"
        )
    except Conflict as error:
        return redirect(request, QUEUE_URL, flash=error.message, category="warning")
    return redirect(
        request, QUEUE_URL, flash="Marked as different people; this pair won't be proposed again."
    )


# -- merging ---------------------------------------------------------------------------------


async def _find(
    db: AsyncSession, principal: Principal, value: str, field: str, *, lock: bool = False
) -> Customer:
    """A live customer by id or primary email, if the principal may see it."""
    value = value.strip()
    customer_id: uuid.UUID | None
    try:
        customer_id = uuid.UUID(value)
    except ValueError:
        customer_id = await repository.id_by_email(db, value) if "@" in value else None
    if customer_id is None:
        raise NotFound(f"No customer with the id or email “{value}”.", code="customer_not_found")
    customer = await repository.get_for(db, principal, customer_id, for_update=lock)
    if customer.id != customer_id:
        raise InvalidInput(
            f"That customer was already merged into {customer.name}.",
            code="already_merged",
            details=[{"field": field, "message": "already merged"}],
        )
    return customer


def _pick_page(
    request: Request,
    survivor: str = "",
    merged: str = "",
    *,
    error: CRMError | None = None,
) -> Response:
    return render(
        request,
        "customers/merge.html",
        {
            "pick": {"survivor": survivor, "merged": merged},
            "error": error.message if error else None,
            "error_code": error.code if error else None,
        },
        status_code=error.status if error else 200,
    )


async def _merge_page(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    survivor_ref: str,
    merged_ref: str,
    *,
    error: CRMError | None = None,
) -> Response:
    try:
        survivor = await _find(db, principal, survivor_ref, "survivor")
        merged = await _find(db, principal, merged_ref, "merged")
        if survivor.id == merged.id:
            raise InvalidInput("A customer cannot be merged into itself.", code="merge_into_self")
    except CRMError as problem:
        return _pick_page(request, survivor_ref, merged_ref, error=problem)
    for customer in (survivor, merged):
        await audit.record_read(
            db,
            actor=principal.actor,
            object_type="customer",
            object_id=customer.id,
            purpose="merge review",
        )
    owners = await users_repository.users_by_ids(
        db, {c.owner_id for c in (survivor, merged) if c.owner_id is not None}
    )
    figures = await repository.metrics_for(db, [survivor.id, merged.id])
    choices = field_choices(survivor, merged, owners)
    return render(
        request,
        "customers/merge.html",
        {
            "survivor": survivor,
            "merged": merged,
            "figures": figures,
            "places": await repository.main_addresses(db, [survivor.id, merged.id]),
            "choices": [c for c in choices if not c.same],
            "same": [c for c in choices if c.same and c.survivor],
            "moves": moves(await repository.belongings(db, merged.id)),
            "tags": sorted(set(merged.tags) - set(survivor.tags)),
            "error": error.message if error else None,
            "error_code": error.code if error else None,
        },
        status_code=error.status if error else 200,
    )


@router.get("/customers/merge")
async def merge_review(
    request: Request,
    principal: CustomerWrite,
    db: DbSession,
    survivor: Annotated[str, Query(max_length=320)] = "",
    merged: Annotated[str, Query(max_length=320)] = "",
) -> Response:
    if not survivor.strip() or not merged.strip():
        missing = None
        if survivor.strip() or merged.strip():
            missing = InvalidInput("Give both customers.", code="validation_error")
        return _pick_page(request, survivor, merged, error=missing)
    return await _merge_page(request, db, principal, survivor, merged)


def _choices(form: FormData) -> dict[str, Side]:
    chosen: dict[str, Side] = {}
    for field in CHOOSABLE:
        value = form.get(f"field.{field}")
        if value == "survivor":
            chosen[field] = "survivor"
        elif value == "merged":
            chosen[field] = "merged"
    return chosen


@router.post("/customers/merge")
async def merge_customers(
    request: Request, principal: CustomerWrite, db: DbSession, settings: SettingsDep
) -> Response:
    form = await request.form()
    survivor_ref, merged_ref = (
        value[:320] if isinstance(value := form.get(name), str) else ""
        for name in ("survivor", "merged")
    )
    if not survivor_ref.strip() or not merged_ref.strip():
        missing = InvalidInput("Give both customers.", code="validation_error")
        return _pick_page(request, survivor_ref, merged_ref, error=missing)
    try:
        survivor = await _find(db, principal, survivor_ref, "survivor", lock=True)
        merged = await _find(db, principal, merged_ref, "merged", lock=True)
        names = (merged.name, survivor.name)
        async with db.begin_nested():
            await merge(
                db,
                settings,
                principal=principal,
                survivor=survivor,
                merged=merged,
                choices=_choices(form),
            )
    except CRMError as error:
        if error.code in ("merge_into_self", "customer_not_found", "already_merged"):
            return _pick_page(request, survivor_ref, merged_ref, error=error)
        return await _merge_page(request, db, principal, survivor_ref, merged_ref, error=error)
    flash = "Merged {} into {}.".format(*names)
    return redirect(request, f"/customers/{survivor.id}", flash=flash)
