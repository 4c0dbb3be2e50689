"""Reading one cell: emails, dates, consent words, tags, names, amounts.

Each parser returns the normalised value or raises :class:`CellError` with a stable code;
the row validators turn those into row-level errors.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

from patron.errors import CRMError
from patron.kit import contact


class CellError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _from_crm(error: CRMError) -> CellError:
    return CellError(error.code, error.message)


# email_validator costs ~40 µs an address; plain ASCII addresses (nearly all of them) are
# checked here with the same rules and produce the same normalised form, the rest go to it.
_SIMPLE_EMAIL = re.compile(
    r"^(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
)
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")


def email(value: str) -> str:
    text = value.strip()
    found = _SIMPLE_EMAIL.match(text)
    if found and len(found["local"]) <= 64 and len(text) <= 254 and "xn--" not in text.lower():
        domain = found["domain"].lower()
        if domain.rsplit(".", 1)[-1] not in _SPECIAL_USE and len(domain) <= 253:
            return f"{found['local']}@{domain}"
    try:
        return contact.normalise_email(text)
    except CRMError as error:
        raise _from_crm(error) from None


def country(value: str) -> str:
    try:
        return contact.normalise_country(value)
    except CRMError as error:
        raise _from_crm(error) from None


def phone(value: str, region: str | None) -> str:
    try:
        return contact.normalise_phone(value, region=region)
    except CRMError as error:
        raise _from_crm(error) from None


_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_YMD = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{2}|\d{4})$")
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_WORDY = re.compile(
    r"^(?:(\d{1,2})\s+([a-z]+)\.?,?\s+(\d{4})|([a-z]+)\.?\s+(\d{1,2}),?\s+(\d{4}))$"
)
DATE_ORDERS = ("auto", "dmy", "mdy")


def _make(year: int, month: int, day: int, original: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise CellError("invalid_date", f"{original!r} is not a real date") from None


def parse_date(value: str, order: str = "auto") -> date:
    """ISO dates, ``31/05/1990``, ``05/31/1990``, ``31.05.1990``, ``31 May 1990``,
    ``May 31, 1990``. Day/month order is taken from ``order``; with ``auto`` a date that reads
    both ways (``04/05/1990``) is refused as ambiguous."""
    text = value.strip()
    if found := _ISO_DATE.match(text) or _YMD.match(text):
        return _make(int(found[1]), int(found[2]), int(found[3]), text)
    if found := _NUMERIC.match(text):
        first, separator, second, year_text = found.groups()
        a, b, year = int(first), int(second), int(year_text)
        if len(year_text) == 2:
            year += 2000 if year < 50 else 1900
        if separator == ".":
            return _make(year, b, a, text)  # 31.05.1990 is day-first everywhere
        if order == "dmy" or (order == "auto" and a > 12):
            return _make(year, b, a, text)
        if order == "mdy" or (order == "auto" and b > 12):
            return _make(year, a, b, text)
        if a == b:
            return _make(year, a, b, text)
        raise CellError(
            "ambiguous_date",
            f"{text!r} reads as day/month or month/day; choose the date order of the file",
        )
    if found := _WORDY.match(text.lower()):
        day_text, month_text, year_text = (
            found.group(1, 2, 3) if found[1] else (found[5], found[4], found[6])
        )
        month = _MONTHS.get(month_text)
        if month:
            return _make(int(year_text), month, int(day_text), text)
    raise CellError("invalid_date", f"{text!r} is not a date (use YYYY-MM-DD)")


def parse_datetime(value: str, order: str = "auto") -> datetime:
    """An ISO timestamp (with or without zone, UTC assumed) or any date :func:`parse_date`
    reads (midnight UTC)."""
    text = value.strip()
    candidate = text.replace(" UTC", "+00:00").replace("Z", "+00:00")
    if re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}", candidate):
        candidate = re.sub(r" ([+-]\d{2}):?(\d{2})$", r"+\1:\2", candidate).replace(" +", "+")
        candidate = re.sub(r" ([+-])(\d{2})(\d{2})$", r"\1\2:\3", candidate)
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            raise CellError("invalid_date", f"{text!r} is not a date and time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    day = parse_date(text, order)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


_CONSENT_WORDS = {
    "subscribed": (
        "yes", "y", "true", "1", "subscribed", "opted in", "opt in", "opted-in", "opt-in",
        "marketable", "accepted", "granted", "confirmed", "on",
    ),
    "unsubscribed": (
        "no", "n", "false", "0", "unsubscribed", "opted out", "opt out", "opted-out",
        "opt-out", "non marketable", "non-marketable", "not subscribed", "declined",
        "cleaned", "off",
    ),
    "pending": ("pending", "pending double opt-in", "double opt-in", "awaiting confirmation"),
    "never_asked": ("never asked", "never_asked", "not asked", "unknown"),
}  # fmt: skip


@cache
def _consent_lookup() -> dict[str, str]:
    return {word: status for status, words in _CONSENT_WORDS.items() for word in words}


def consent(value: str) -> str:
    status = _consent_lookup().get(" ".join(value.strip().lower().split()))
    if status is None:
        raise CellError(
            "invalid_consent",
            f"{value!r} is not a consent (use yes/no, subscribed/unsubscribed or pending)",
        )
    return status


def tags(value: str) -> list[str]:
    seen: list[str] = []
    for tag in re.split(r"[,;]", value):
        cleaned = " ".join(tag.split())[:60]
        if cleaned and cleaned.lower() not in (t.lower() for t in seen):
            seen.append(cleaned)
    return seen[:50]


_LIFECYCLE = {
    "lead": "lead",
    "subscriber": "lead",
    "other": "lead",
    "marketing qualified lead": "lead",
    "marketingqualifiedlead": "lead",
    "sales qualified lead": "prospect",
    "salesqualifiedlead": "prospect",
    "prospect": "prospect",
    "opportunity": "prospect",
    "customer": "customer",
    "repeat": "repeat",
    "evangelist": "vip",
    "vip": "vip",
    "at risk": "at_risk",
    "at_risk": "at_risk",
    "churned": "churned",
}


def lifecycle(value: str) -> str:
    stage = _LIFECYCLE.get(" ".join(value.strip().lower().split()))
    if stage is None:
        raise CellError("invalid_lifecycle", f"{value!r} is not a lifecycle stage")
    return stage


def split_name(value: str) -> tuple[str, str]:
    parts = value.split()
    if not parts:
        return "", ""
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]


def locale(value: str) -> str:
    text = value.strip().replace("_", "-")
    if not re.match(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", text) or len(text) > 20:
        raise CellError("invalid_locale", f"{value!r} is not a locale (like en or de-AT)")
    head, *rest = text.split("-")
    return "-".join([head.lower(), *[p.upper() if len(p) == 2 else p for p in rest]])


def amount(value: str, field: str) -> Decimal:
    cleaned = value.strip().replace(",", "") if value.count(",") and "." in value else value
    cleaned = cleaned.strip().lstrip("$€£").replace(",", ".").strip()
    try:
        return contact.parse_amount(cleaned, field=field)
    except CRMError as error:
        raise _from_crm(error) from None


def quantity(value: str, *, minimum: int = 0) -> int:
    text = value.strip()
    try:
        number = int(Decimal(text)) if re.match(r"^-?\d+(\.0+)?$", text) else None
    except ArithmeticError:
        number = None
    if number is None or number < minimum or number > 2_000_000_000:
        raise CellError("invalid_quantity", f"{value!r} is not a whole number ≥ {minimum}")
    return number


def text(value: str, limit: int) -> str:
    cleaned = value.replace("\x00", "").strip()
    return cleaned[:limit]


def boolean(value: str) -> bool:
    return consent(value) == "subscribed"
