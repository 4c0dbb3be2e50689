"""Customers: who they are, when they came, how often they order, and their profile rows."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from patron.demo_shop.people import (
    COMPANY_WORDS,
    COUNTRIES,
    City,
    Country,
    ascii_slug,
    fill,
    phone,
    street_line,
)
from patron.demo_shop.shop import DAYS, Shop, StaffMember, Weighted, cents
from patron.demo_shop.tables import Rows

COUNTRY = Weighted((country, country.weight) for country in COUNTRIES)
LEAD_SOURCES = ("Newsletter sign-up", "Instagram giveaway", "Pop-up form", "Trade fair", "Import")
OWNER_ROLE = Weighted(
    (("sales", 40), ("manager", 25), ("admin", 10), ("support", 10), ("marketing", 10))
)
EMAIL_STYLES = ("{f}.{l}", "{f}{l}", "{i}{l}", "{f}_{l}", "{l}.{f}", "{f}")


@dataclass
class OrderPlan:
    placed_at: datetime
    channel: str
    number: str = ""
    external_id: str | None = None


@dataclass
class CustomerPlan:
    id: uuid.UUID
    country: Country
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    company: str | None
    city: City
    line1: str
    postal_code: str
    created_at: datetime
    kind: str  # lead, one_time or repeat
    b2b: bool
    owner: StaffMember | None
    source: str
    orders: list[OrderPlan]
    # what building the orders found out, for the metrics, stage and tags
    orders_count: int = 0
    spent: Decimal = Decimal(0)
    last_order_at: datetime | None = None
    last_activity_at: datetime | None = None
    has_cart: bool = False
    returns: int = 0
    departments: Counter[str] = field(default_factory=Counter)
    tags: set[str] = field(default_factory=set)
    shopify: bool = False

    @property
    def currency(self) -> str:
        return self.country.currency

    def touch(self, moment: datetime) -> None:
        if self.last_activity_at is None or moment > self.last_activity_at:
            self.last_activity_at = moment

    def address(self) -> dict[str, str]:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company": self.company or "",
            "line1": self.line1,
            "line2": "",
            "city": self.city.name,
            "region": self.city.region,
            "postal_code": self.postal_code,
            "country": self.country.code,
            "phone": self.phone or "",
        }


def _email(shop: Shop, rng: random.Random, country: Country, first: str, last: str) -> str:
    """An address derived from the name, unique by construction (a counter per base)."""
    style = rng.choice(EMAIL_STYLES)
    f, l = ascii_slug(first), ascii_slug(last)  # noqa: E741
    local = style.format(f=f, l=l, i=f[:1])
    base = f"{local}@{rng.choice(country.email_domains)}"
    seen = shop.email_counts.get(base, 0) + 1
    shop.email_counts[base] = seen
    if seen == 1 and style != "{f}":
        return base
    number = seen if seen > 1 else rng.randint(2, 99)
    if seen == 1:
        shop.email_counts[base] = number
    return f"{local}{number}@{base.split('@')[1]}"


def _order_count(rng: random.Random, kind: str, mean: float) -> int:
    if kind == "lead":
        return 0
    if kind == "one_time":
        return 1
    extra = max(0.5, (mean - 0.40) / 0.42 - 2)
    return min(400, 2 + int(rng.expovariate(1 / extra)))


def _order_times(
    shop: Shop, rng: random.Random, count: int, acquired: datetime, country: str
) -> list[datetime]:
    if count == 0:
        return []
    now = shop.now
    end = now if rng.random() < 0.55 else acquired + (now - acquired) * rng.random()
    end = max(end, acquired + timedelta(days=1))
    times = [acquired] + [
        shop.calendar.sample(rng, acquired, min(end, now), country=country)
        for _ in range(count - 1)
    ]
    return sorted(min(moment, now - timedelta(minutes=5)) for moment in times)


def _channel(rng: random.Random, country: Country) -> str:
    store = 0.12 if country.code in {"DE", "US"} else 0.0
    draw = rng.random()
    if draw < store:
        return "store"
    if draw < store + 0.15:
        return "amazon"
    if draw < store + 0.19:
        return "phone"
    return "shopify"


def plan_customer(shop: Shop, recent: list[CustomerPlan]) -> CustomerPlan:
    rng = shop.rng
    country = COUNTRY.pick(rng)
    draw = rng.random()
    kind = "lead" if draw < 0.18 else "one_time" if draw < 0.58 else "repeat"
    b2b = kind == "repeat" and rng.random() < 0.08
    first, last = rng.choice(country.first_names), rng.choice(country.last_names)
    city = rng.choice(country.cities)
    line1, postal = street_line(rng, country), fill(rng, city.postal)
    mobile = phone(rng, country) if rng.random() < 0.7 else None
    if recent and rng.random() < 0.008:  # the same person signed up twice: a duplicate to review
        twin = rng.choice(recent)
        country, first, last = twin.country, twin.first_name, twin.last_name
        city, line1, postal, mobile = twin.city, twin.line1, twin.postal_code, twin.phone
    company = None
    if b2b:
        word = rng.choice(COMPANY_WORDS)
        company = f"{word} {last} {rng.choice(country.company_suffixes)}"
    count = _order_count(rng, kind, shop.params.orders_per_customer)
    calendar = shop.calendar
    # repeat buyers came earlier on average, or orders would pile up in the last months
    latest = (
        shop.now
        if kind != "repeat"
        else calendar.start + (shop.now - calendar.start) * (rng.random())
    )
    first_seen = calendar.sample(rng, calendar.start, latest, country=country.code)
    times = _order_times(shop, rng, count, first_seen, country.code)
    signed_up_early = rng.random() < 0.5
    created = first_seen - (
        rng.random() * timedelta(days=30)
        if signed_up_early
        else timedelta(minutes=rng.randint(0, 5))
    )
    created = max(created, calendar.start - timedelta(days=DAYS // 4))
    primary = _channel(rng, country)
    orders = [
        OrderPlan(moment, primary if rng.random() < 0.8 else _channel(rng, country))
        for moment in times
    ]
    email: str | None = _email(shop, rng, country, first, last)
    if primary == "store" and rng.random() < 0.25:
        email = None  # a walk-in customer known by phone only
        mobile = mobile or phone(rng, country)
    owner = None
    if shop.params.staff and (b2b or rng.random() < 0.55):
        roles = ("sales", "manager") if b2b else (OWNER_ROLE.pick(rng),)
        owner = shop.staff_member(rng, *roles)
    if kind == "lead":
        source = rng.choice(LEAD_SOURCES)
    else:
        source = {
            "shopify": "Shopify",
            "amazon": "Amazon",
            "store": "Flagship store",
            "phone": "Phone order",
        }[primary]
    return CustomerPlan(
        id=shop.ids.at(created),
        country=country,
        first_name=first,
        last_name=last,
        email=email,
        phone=mobile,
        company=company,
        city=city,
        line1=line1,
        postal_code=postal,
        created_at=created,
        kind=kind,
        b2b=b2b,
        owner=owner,
        source=source,
        orders=orders,
    )


def lifecycle_stage(shop: Shop, plan: CustomerPlan) -> str:
    """The stage patron.customers.metrics would compute from these figures."""
    if plan.orders_count == 0 or plan.last_order_at is None:
        return "prospect" if plan.has_cart else "lead"
    now = shop.now
    if plan.last_order_at < now - timedelta(days=shop.params.churned_after_days):
        return "churned"
    if plan.last_order_at < now - timedelta(days=shop.params.at_risk_after_days):
        return "at_risk"
    if cents(plan.spent) >= shop.params.vip_spent:
        return "vip"
    return "repeat" if plan.orders_count >= 2 else "customer"


def profile_rows(shop: Shop, plan: CustomerPlan, rows: Rows, *, subscribed: set[str]) -> None:
    """The customer row and their addresses, other emails and phones, external ids."""
    rng = shop.rng
    country = plan.country
    birthday = (
        date(rng.randint(1955, 2004), rng.randint(1, 12), rng.randint(1, 28))
        if rng.random() < 0.35
        else None
    )
    if plan.spent >= shop.params.vip_spent * 3:
        plan.tags.add("big-spender")
    if plan.b2b:
        plan.tags.update({"b2b", "wholesale"})
    if "email" in subscribed:
        plan.tags.add("newsletter")
    if plan.returns >= 2:
        plan.tags.add("frequent-returner")
    if rng.random() < 0.01:
        plan.tags.add("influencer")
    interests = [slug for slug, _ in plan.departments.most_common(2)]
    preferred: list[str] = [channel for channel in ("email", "sms") if channel in subscribed]
    if plan.b2b:
        preferred.append("phone")
    frequency = rng.choice(("weekly", "monthly", "quarterly")) if rng.random() < 0.2 else None
    updated = max(plan.created_at, plan.last_activity_at or plan.created_at)
    rows["customer"].append(
        (
            plan.id, plan.first_name, plan.last_name, plan.email, plan.phone, birthday,
            country.locale, country.time_zone, plan.company, country.code, sorted(plan.tags),
            lifecycle_stage(shop, plan), False, plan.owner.id if plan.owner else None,
            plan.source, preferred, interests, frequency, {}, plan.created_at, updated,
        )
    )  # fmt: skip
    if plan.kind != "lead" or rng.random() < 0.3:
        rows["customer_address"].append(
            (
                shop.ids.at(plan.created_at), plan.id, "Office" if plan.b2b else "Home",
                plan.first_name, plan.last_name, plan.company or "", plan.line1, "",
                plan.city.name, plan.city.region, plan.postal_code, country.code, plan.phone,
                True, True, plan.created_at, plan.created_at,
            )
        )  # fmt: skip
        if rng.random() < 0.15:
            city = rng.choice(country.cities)
            rows["customer_address"].append(
                (
                    shop.ids.at(updated), plan.id, rng.choice(("Work", "Parents", "Holiday home")),
                    plan.first_name, plan.last_name, "", street_line(rng, country),
                    rng.choice(("", "", "2nd floor", "c/o Reception")), city.name, city.region,
                    fill(rng, city.postal), country.code, None, False, False, updated, updated,
                )
            )  # fmt: skip
    if plan.email and rng.random() < 0.07:
        local, domain = plan.email.split("@")
        other = (
            f"{ascii_slug(plan.first_name)}@{ascii_slug(plan.company or plan.last_name)}.example"
            if plan.b2b or rng.random() < 0.5
            else f"{local}.old@{domain}"
        )
        rows["customer_email"].append(
            (shop.ids.at(updated), plan.id, other, "work" if plan.b2b else "other", updated)
        )
    if plan.phone and rng.random() < 0.05:
        rows["customer_phone"].append(
            (shop.ids.at(updated), plan.id, phone(rng, country), "work", updated)
        )
    if plan.shopify:
        shop.counters.shopify_customer += rng.randint(1, 5000)
        rows["customer_external_id"].append(
            (
                shop.ids.at(plan.created_at),
                plan.id,
                shop.channels["shopify"][0],
                str(shop.counters.shopify_customer),
                plan.created_at,
            )
        )
