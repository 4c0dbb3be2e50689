"""What every part of the generator shares: the parameters, the catalog, the channels, the
calendar of a shop's seasons, counters for order and return numbers, and small helpers."""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate
from typing import Any, Generic, TypeVar

from patron.demo_shop.catalog import Catalog, build_catalog
from patron.demo_shop.ids import IdMaker
from patron.demo_shop.tables import Rows

T = TypeVar("T")
CENT = Decimal("0.01")
DAYS = 730  # two years of history
# US dollars per unit; orders are in the customer's currency when both it and the shop's are here
USD_PER_UNIT = {"USD": Decimal("1"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
MONTH_WEIGHT = (0.8, 0.72, 0.85, 0.9, 0.95, 0.9, 0.85, 0.85, 0.95, 1.05, 1.55, 1.75)
WEEKDAY_WEIGHT = (1.1, 1.0, 1.0, 1.0, 0.95, 0.85, 1.15)  # Monday first; Sunday evening browsing
HOUR_WEIGHT = (
    (1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 5, 5, 4, 4, 4, 5, 6, 7, 8, 8, 6, 3)
)  # local time  # fmt: skip
UTC_OFFSET = {"US": -5, "GB": 0, "DE": 1, "FR": 1, "NL": 1, "ES": 1, "IT": 1}

# channel key: (name, kind)
CHANNELS = {
    "shopify": ("Shopify", "shopify"),
    "amazon": ("Amazon", "marketplace"),
    "store": ("Flagship store", "pos"),
    "phone": ("Phone orders", "manual"),
}


class Weighted(Generic[T]):
    """A weighted choice with its cumulative weights computed once (``random.choices`` redoes
    that on every call, which shows at ten million orders)."""

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        values, weights = zip(*pairs, strict=True)
        self.values: tuple[T, ...] = values
        self.cumulative = list(accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


@dataclass(frozen=True)
class StaffMember:
    id: uuid.UUID
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class ShopParams:
    now: datetime
    seed: int = 2026
    customers: int = 300
    orders: int | None = None  # the expected total; about 2.7 per customer by default
    currency: str = "USD"
    vip_spent: Decimal = Decimal(1000)
    at_risk_after_days: int = 180
    churned_after_days: int = 365
    cart_abandoned_after_minutes: int = 60
    staff: tuple[StaffMember, ...] = ()
    batch_size: int = 500  # customers generated (and numbered chronologically) together

    @property
    def orders_per_customer(self) -> float:
        return (self.orders / self.customers) if self.orders else 2.7


@dataclass
class Counters:
    web_orders: int = 0  # Shopify and phone orders share the "#1001" numbering
    amazon_orders: int = 0
    store_orders: int = 0
    returns: int = 0
    shopify_customer: int = 7_200_000_000_000
    shopify_order: int = 5_600_000_000_000


class Calendar:
    """Samples moments over the last two years, weighted by season, weekday and growth."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.start = (now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.cumulative = [0.0]
        for day in range(DAYS + 1):
            date = self.start + timedelta(days=day)
            weight = MONTH_WEIGHT[date.month - 1] * WEEKDAY_WEIGHT[date.weekday()]
            if date.month == 11 and 22 <= date.day <= 30:  # Black Friday to Cyber Monday
                weight *= 2.4
            if date.month == 12 and date.day >= 24:
                weight *= 0.6
            weight *= 0.85 + 0.3 * day / DAYS  # the shop grows
            self.cumulative.append(self.cumulative[-1] + weight)
        self.hours = Weighted(enumerate(HOUR_WEIGHT))

    def day_index(self, moment: datetime) -> int:
        return max(0, min(DAYS, (moment - self.start).days))

    def sample(
        self, rng: random.Random, first: datetime, last: datetime, *, country: str = "US"
    ) -> datetime:
        low, high = self.day_index(first), self.day_index(last)
        lo_weight, hi_weight = self.cumulative[low], self.cumulative[high + 1]
        day = bisect.bisect_right(
            self.cumulative, lo_weight + rng.random() * (hi_weight - lo_weight)
        )
        hour = self.hours.pick(rng) - UTC_OFFSET.get(country, 0)
        moment = self.start + timedelta(
            days=day - 1, hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60)
        )
        if moment < first:
            return first + timedelta(minutes=rng.randint(1, 90))
        if moment > last:
            return last - timedelta(minutes=rng.randint(1, 90))
        return moment


class Shop:
    def __init__(self, params: ShopParams) -> None:
        self.params = params
        self.now = params.now.astimezone(UTC)
        self.rng = random.Random(params.seed)
        self.ids = IdMaker(self.rng)
        self.calendar = Calendar(self.now)
        self.counters = Counters()
        opened = self.now - timedelta(days=DAYS + 70)
        self.channel_rows: Rows = {"channel": []}
        self.channels: dict[str, tuple[uuid.UUID, str]] = {}
        for key, (name, kind) in CHANNELS.items():
            channel_id = self.ids.at(opened)
            self.channels[key] = (channel_id, name)
            self.channel_rows["channel"].append((channel_id, name, kind, opened))
        self.catalog: Catalog = build_catalog(
            self.rng,
            self.ids,
            now=self.now,
            currency=params.currency,
            channel_id=self.channels["shopify"][0],
        )
        self.email_counts: dict[str, int] = {}
        self.staff_by_role: dict[str, list[StaffMember]] = {}
        for member in params.staff:
            self.staff_by_role.setdefault(member.role, []).append(member)

    # -- money ---------------------------------------------------------------------------

    def order_currency(self, country_currency: str) -> str:
        base = self.params.currency
        return country_currency if {base, country_currency} <= USD_PER_UNIT.keys() else base

    def exchange_rate(self, currency: str) -> Decimal:
        """Shop currency per unit of ``currency``."""
        if currency == self.params.currency:
            return Decimal(1)
        rate = USD_PER_UNIT[currency] / USD_PER_UNIT[self.params.currency]
        return rate.quantize(Decimal("0.00000001"))

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal:
        if source == target or not {source, target} <= USD_PER_UNIT.keys():
            return amount
        return cents(amount * USD_PER_UNIT[source] / USD_PER_UNIT[target])

    # -- people --------------------------------------------------------------------------

    def staff_member(self, rng: random.Random, *roles: str) -> StaffMember | None:
        candidates = [member for role in roles for member in self.staff_by_role.get(role, ())]
        return rng.choice(candidates) if candidates else None


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal, currency: str) -> str:
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


def entry(
    rows: Rows,
    shop: Shop,
    *,
    customer_id: uuid.UUID,
    kind: str,
    at: datetime,
    summary: str,
    data: dict[str, Any],
    order_id: uuid.UUID | None = None,
    actor: StaffMember | None = None,
    actor_label: str = "system",
    body: str | None = None,
    body_html: str | None = None,
    pinned: bool = False,
) -> None:
    """One timeline row (as patron.timeline.service.add_entry would write it)."""
    rows["timeline_entry"].append(
        (
            shop.ids.at(at),
            customer_id,
            order_id,
            kind,
            at,
            "user" if actor else "system",
            actor.id if actor else None,
            actor.email if actor else actor_label,
            summary[:500],
            data,
            body,
            body_html,
            pinned,
            at,
            None,
        )
    )
