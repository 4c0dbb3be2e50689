"""Validating and normalising contact data: emails, phones (E.164), countries, currencies."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

from patron.errors import InvalidInput

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")


def _invalid(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"field": field, "message": message}])


def normalise_email(value: str, *, field: str = "email") -> str:
    """A syntactically valid address, domain lower-cased; deliverability is not checked."""
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        message = f"{value!r} is not a valid email address: {error}"
        raise _invalid(field, message, "invalid_email") from None
    return checked.normalized


def normalise_phone(value: str, *, region: str | None = None, field: str = "phone") -> str:
    """A phone number in E.164 (``+4930123456``); national numbers need the country."""
    try:
        parsed = phonenumbers.parse(value.strip(), region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        hint = "" if region else " (give it in international form, starting with +)"
        raise _invalid(field, f"{value!r} is not a valid phone number{hint}", "invalid_phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str | None) -> str:
    """A stored E.164 number as people read it (``+49 30 123456``)."""
    if not e164:
        return ""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@cache
def _country_codes() -> dict[str, str]:
    codes: dict[str, str] = {}
    for country in pycountry.countries:
        codes[country.alpha_2.lower()] = country.alpha_2
        codes[country.alpha_3.lower()] = country.alpha_2
        codes[country.name.lower()] = country.alpha_2
        for attribute in ("common_name", "official_name"):
            if hasattr(country, attribute):
                codes[getattr(country, attribute).lower()] = country.alpha_2
    codes.update({"uk": "GB", "england": "GB", "usa": "US", "united states of america": "US"})
    return codes


def normalise_country(value: str, *, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code from a code (``de``, ``DEU``) or an English name."""
    code = _country_codes().get(value.strip().lower())
    if code is None:
        raise _invalid(field, f"{value!r} is not a known country", "invalid_country")
    return code


def country_name(code: str | None) -> str:
    if not code:
        return ""
    country = pycountry.countries.get(alpha_2=code)
    return str(getattr(country, "common_name", None) or country.name) if country else code


@cache
def _currencies() -> frozenset[str]:
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


def normalise_currency(value: str, *, field: str = "currency") -> str:
    code = value.strip().upper()
    if code not in _currencies():
        raise _invalid(field, f"{value!r} is not an ISO 4217 currency code", "invalid_currency")
    return code


def parse_amount(value: object, *, field: str = "amount", allow_negative: bool = False) -> Decimal:
    """A money amount from a decimal string or number, rounded to cents; never a float."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _invalid(field, f"{value!r} is not an amount", "invalid_amount") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise _invalid(field, f"{value!r} is not an amount", "invalid_amount")
    if amount < 0 and not allow_negative:
        raise _invalid(field, "The amount cannot be negative.", "negative_amount")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
