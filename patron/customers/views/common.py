"""What the customer pages share: reading list filters from a query string, form values,
staff choices, and template filters for money, phones and countries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, QueryParams

from patron.analytics.rfm import GROUPS_BY_NAME
from patron.auth.dependencies import get_settings
from patron.auth.principal import Principal
from patron.config import Settings
from patron.customers.listing import CONSENT_FILTER, CUSTOM_FILTER, CustomerQuery
from patron.errors import CRMError
from patron.kit.contact import country_name, format_phone
from patron.kit.pagination import PageParams
from patron.models import Segment, StaffUser
from patron.models.customers import LIFECYCLE_STAGES
from patron.segments import repository as segments_repository
from patron.users import repository as users_repository
from patron.web.templating import templates

SettingsDep = Annotated[Settings, Depends(get_settings)]
PAGE_SIZE = 50
DEFAULT_SORT = CustomerQuery.model_fields["sort"].default
LIST_FIELDS = frozenset({"tag", "lifecycle", "country", "consent", "custom", "rfm_group"})
COMMA_LISTS = frozenset({"tag", "country"})
CUSTOM_PREFIX = "cf_"
LIFECYCLE_LABELS = {
    "lead": "Lead",
    "prospect": "Prospect",
    "customer": "Customer",
    "repeat": "Repeat",
    "vip": "VIP",
    "at_risk": "At risk",
    "churned": "Churned",
}
LIFECYCLE_STYLES = {
    "lead": "text-bg-light border",
    "prospect": "text-bg-info",
    "customer": "text-bg-primary",
    "repeat": "text-bg-success",
    "vip": "text-bg-warning",
    "at_risk": "text-bg-danger",
    "churned": "text-bg-secondary",
}
CONSENT_LABELS = {
    "subscribed": "Subscribed",
    "unsubscribed": "Unsubscribed",
    "pending": "Pending opt-in",
    "never_asked": "Never asked",
}
CONSENT_STYLES = {
    "subscribed": "text-bg-success",
    "unsubscribed": "text-bg-danger",
    "pending": "text-bg-warning",
    "never_asked": "text-bg-light border",
}
SORTS = {
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "name": "Name A–Z",
    "-name": "Name Z–A",
    "-total_spent": "Spent, highest first",
    "total_spent": "Spent, lowest first",
    "-orders_count": "Most orders",
    "orders_count": "Fewest orders",
    "-last_order_at": "Latest order",
    "last_order_at": "Longest since an order",
}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "¥"}


def money(value: Decimal | int | float | None, currency: str = "USD") -> str:
    """An amount as people read it: ``$1,234.50`` or ``1,234.50 CHF``."""
    if value is None:
        return "—"
    amount = Decimal(value)
    places = 0 if currency == "JPY" else 2
    text = f"{abs(amount):,.{places}f}"
    sign = "-" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


templates.env.filters.setdefault("money", money)
templates.env.filters.setdefault("phone", format_phone)
templates.env.filters.setdefault("country_name", country_name)
templates.env.globals.update(
    lifecycle_labels=LIFECYCLE_LABELS,
    lifecycle_styles=LIFECYCLE_STYLES,
    consent_labels=CONSENT_LABELS,
    consent_styles=CONSENT_STYLES,
    rfm_groups=GROUPS_BY_NAME,
)


def _values(params: QueryParams | Mapping[str, Any], key: str) -> list[str]:
    if isinstance(params, QueryParams | FormData):
        raw = [str(v) for v in params.getlist(key)]
    else:
        value = params.get(key)
        raw = [str(v) for v in value] if isinstance(value, list) else [str(value or "")]
    values: list[str] = []
    for item in raw:
        parts = item.split(",") if key in COMMA_LISTS else [item]
        values.extend(part.strip() for part in parts if part.strip())
    return values


def parse_filters(params: QueryParams) -> tuple[CustomerQuery, list[str]]:
    """The list's filters from a query string; a value that is not valid is dropped and
    explained, so a mistyped number never turns the page into an error."""
    data: dict[str, Any] = {}
    for name in CustomerQuery.model_fields:
        values = _values(params, name)
        if name in LIST_FIELDS:
            if values:
                data[name] = values
        elif values:
            data[name] = values[-1]
    for key in params:
        if key.startswith(CUSTOM_PREFIX) and params[key].strip():
            data.setdefault("custom", []).append(
                f"{key[len(CUSTOM_PREFIX) :]}:{params[key].strip()}"
            )
    owner = params.get("owner", "").strip()
    if owner == "none":
        data["unowned"] = True
    elif owner:
        data["owner_id"] = owner
    problems: list[str] = []
    for field, pattern, example in (
        ("consent", CONSENT_FILTER, "email:subscribed"),
        ("custom", CUSTOM_FILTER, "shoe_size:42"),
    ):
        wrong = [value for value in data.get(field, []) if not pattern.match(value)]
        if wrong:
            problems.append(f"{field}: use the form {example}, not {', '.join(wrong)}")
            data[field] = [value for value in data[field] if value not in wrong]
    for _ in range(len(CustomerQuery.model_fields)):
        try:
            return CustomerQuery.model_validate(data), problems
        except ValidationError as error:
            problem = error.errors()[0]
            field = str(problem["loc"][0]) if problem["loc"] else ""
            problems.append(f"{field.replace('_', ' ')}: {problem['msg']}")
            if field not in data:
                break
            del data[field]
    return CustomerQuery(), problems


def query_string(query: CustomerQuery, **extra: str | None) -> str:
    """The canonical query string of a filter (for links, saved views and exports)."""
    values: dict[str, Any] = dict(query.active_filters())
    if query.sort != DEFAULT_SORT:
        values["sort"] = query.sort
    values.update({k: v for k, v in extra.items() if v})
    return urlencode(values, doseq=True)


def filter_count(query: CustomerQuery) -> int:
    """How many filters (not the search) are in use, for the filter panel's badge."""
    return len([k for k in query.active_filters() if k != "q"])


def text_field(form: FormData, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def optional_text(form: FormData, name: str, limit: int = 200) -> str | None:
    return text_field(form, name, limit) or None


def comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def optional_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def optional_date(form: FormData, name: str) -> date | None:
    """A date field; a malformed one is an error on that field."""
    value = text_field(form, name, 10)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise field_error(name, "Give a date as YYYY-MM-DD.") from None


def field_error(field: str, message: str) -> CRMError:
    return CRMError(
        message,
        code="invalid_input",
        status=422,
        details=[{"field": field, "message": message}],
    )


def field_errors(error: CRMError) -> dict[str, str]:
    """An error's messages by form field (``address.country`` → ``country``)."""
    found: dict[str, str] = {}
    for detail in error.details:
        field = str(detail.get("field", ""))
        if not field:
            continue
        message = str(detail.get("message", "")) or error.message
        if detail.get("type") == "existing_customer_id" or error.code == "duplicate_email":
            message = error.message
        short = field.rsplit(".", 1)[-1] if field.startswith("address.") else field
        found.setdefault(short, message)
        found.setdefault(field, message)
    return found


def form_errors(error: CRMError, fields: Iterable[str]) -> dict[str, str]:
    """Messages by field for a form with these fields; the message as a whole (``_``) when
    no field of the form shows it."""
    found = field_errors(error)
    names = set(fields)
    if not any(name in names or name.startswith("custom_fields.") for name in found):
        found["_"] = error.message
    return found


def validation_error(error: ValidationError) -> CRMError:
    """Pydantic's complaint about a form, as the panel's field errors."""
    details = []
    for problem in error.errors():
        location = [str(part) for part in problem["loc"]]
        if location and location[0] == "addresses":
            field = "address." + location[-1]
        else:
            field = ".".join(location)
        details.append({"field": field, "message": problem["msg"]})
    return CRMError(
        "Some fields need another look.", code="validation_error", status=422, details=details
    )


async def staff_choices(db: AsyncSession) -> list[StaffUser]:
    """Active people who can own customers, for owner selects."""
    users, _ = await users_repository.list_users(
        db, PageParams(limit=500), active=True, kind="person"
    )
    return sorted(users, key=lambda user: user.name.lower())


async def segment_choices(db: AsyncSession, principal: Principal) -> list[Segment]:
    """Saved segments for the segment filter, for people who may see segments."""
    if not principal.has("segments:read"):
        return []
    return await segments_repository.segments(db)


def lifecycle_choices() -> Sequence[tuple[str, str]]:
    return [(stage, LIFECYCLE_LABELS[stage]) for stage in LIFECYCLE_STAGES]


def _range(label: str, low: object, high: object) -> str | None:
    if low is not None and high is not None:
        return f"{label} {low}–{high}"
    if low is not None:
        return f"{label} from {low}"
    if high is not None:
        return f"{label} up to {high}"
    return None


def rfm_filters(query: CustomerQuery) -> list[str]:
    scores = (
        ("Recency", query.recency_score),
        ("Frequency", query.frequency_score),
        ("Monetary", query.monetary_score),
    )
    parts = [f"{label} score {value}" for label, value in scores if value is not None]
    if query.rfm_group:
        labels = (GROUPS_BY_NAME[name].label for name in query.rfm_group)
        parts.append("RFM group: " + ", ".join(labels))
    return parts


def describe_filters(
    query: CustomerQuery, staff: Sequence[StaffUser] = (), segments: Sequence[Segment] = ()
) -> list[str]:
    """The filters in use, as people say them (for the list and the bulk confirmation)."""
    names = {person.id: person.name for person in staff}
    segment_names = {segment.id: segment.name for segment in segments}
    parts: list[str | None] = [
        f"Segment: {segment_names.get(query.segment, 'a saved segment')}"
        if query.segment
        else None,
        f"Search “{query.q}”" if query.q else None,
        f"Tags: {', '.join(query.tag)}" if query.tag else None,
        "Lifecycle: " + ", ".join(LIFECYCLE_LABELS.get(s, s) for s in query.lifecycle)
        if query.lifecycle
        else None,
        f"Country: {', '.join(c.upper() for c in query.country)}" if query.country else None,
        f"Owner: {names.get(query.owner_id, 'someone')}" if query.owner_id else None,
        "No owner" if query.unowned else None,
        _range("Spent", query.spent_min, query.spent_max),
        _range("Orders", query.orders_min, query.orders_max),
        _range("First order", query.first_order_from, query.first_order_to),
        _range("Last order", query.last_order_from, query.last_order_to),
        _range("Created", query.created_from, query.created_to),
    ]
    for value in query.consent:
        channel, _, status = value.partition(":")
        parts.append(
            f"{channel.upper() if channel == 'sms' else 'Email'}: {status.replace('_', ' ')}"
        )
    parts.extend(value.replace(":", " = ", 1) for value in query.custom)
    parts.extend(rfm_filters(query))
    return [part for part in parts if part]
