"""The demo shop generator: batches of rows for every table, the same for the same seed."""

from __future__ import annotations

from collections.abc import Iterator

from patron.demo_shop.activity import cart_rows, consent_rows, guest_cart, staff_activity
from patron.demo_shop.customers import CustomerPlan, plan_customer, profile_rows
from patron.demo_shop.orders import OrderBuilder
from patron.demo_shop.people import COUNTRIES
from patron.demo_shop.shop import Shop, ShopParams
from patron.demo_shop.tables import Rows, empty_rows

RECENT = 50  # duplicates copy someone among the last customers generated


class ShopGenerator:
    """``batches()`` yields the catalog first, then the customers in batches of
    ``params.batch_size``, each with everything that hangs off them. Within a batch, order
    numbers follow the order of time, so a shop made in one batch numbers them like a store."""

    def __init__(self, params: ShopParams) -> None:
        self.params = params
        self.shop = Shop(params)

    @property
    def next_order_number(self) -> int:
        return 1001 + self.shop.counters.web_orders

    @property
    def next_return_number(self) -> int:
        return self.shop.counters.returns + 1

    def batches(self) -> Iterator[Rows]:
        first = empty_rows()
        first["channel"].extend(self.shop.channel_rows["channel"])
        for table, rows in self.shop.catalog.rows.items():
            first[table].extend(rows)
        yield first
        remaining = self.params.customers
        while remaining > 0:
            size = min(self.params.batch_size, remaining)
            remaining -= size
            yield self._batch(size)

    def _batch(self, size: int) -> Rows:
        shop = self.shop
        rows = empty_rows()
        plans: list[CustomerPlan] = []
        for _ in range(size):
            plans.append(plan_customer(shop, plans[-RECENT:]))
        self._number(plans)
        for plan in plans:
            builder = OrderBuilder(shop, plan, rows)
            builder.build_all()
            cart_rows(shop, plan, rows, builder.built)
            subscribed = consent_rows(shop, plan, rows)
            staff_activity(shop, plan, rows)
            profile_rows(shop, plan, rows, subscribed=subscribed)
        for _ in range(max(1, size // 60)):
            country = shop.rng.choice(COUNTRIES)
            email = f"guest.{shop.rng.getrandbits(40):010x}@{country.email_domains[0]}"
            guest_cart(shop, rows, email)
        return rows

    def _number(self, plans: list[CustomerPlan]) -> None:
        counters, rng = self.shop.counters, self.shop.rng
        orders = sorted(
            (order for plan in plans for order in plan.orders), key=lambda order: order.placed_at
        )
        for order in orders:
            if order.channel in {"shopify", "phone"}:
                order.number = f"#{1001 + counters.web_orders}"
                counters.web_orders += 1
                if order.channel == "shopify":
                    counters.shopify_order += rng.randint(1, 40)
                    order.external_id = str(counters.shopify_order)
            elif order.channel == "amazon":
                counters.amazon_orders += 1
                order.number = (
                    f"{rng.randint(111, 408)}-{counters.amazon_orders:07d}-"
                    f"{rng.randrange(10_000_000):07d}"
                )
                order.external_id = order.number
            else:
                counters.store_orders += 1
                order.number = f"POS-{counters.store_orders:06d}"
