"""A customer's orders with their lines, payments, shipments, returns and refunds, each step
on the customer's timeline, and only the steps whose time has already come."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from patron.demo_shop.catalog import Sellable
from patron.demo_shop.customers import CustomerPlan, OrderPlan
from patron.demo_shop.people import fill
from patron.demo_shop.shop import Shop, StaffMember, Weighted, cents, entry, money
from patron.demo_shop.tables import Rows

LINES = Weighted(((1, 55), (2, 28), (3, 11), (4, 4), (5, 2)))
QUANTITY = Weighted(((1, 85), (2, 12), (3, 3)))
FREE_SHIPPING_FROM = Decimal(75)  # in US dollars, converted
CANCEL_REASONS = (
    "Customer changed their mind",
    "Payment declined",
    "Item out of stock",
    "Suspected fraud",
)
RETURN_REASONS = (
    "Too small",
    "Too large",
    "Not as described",
    "Changed my mind",
    "Damaged in transit",
    "Wrong item sent",
)
GOODWILL = ("Goodwill: late delivery", "Price adjustment", "Damaged packaging")
NOTES = (
    "Please leave the parcel with a neighbour.",
    "Gift: please leave out the invoice.",
    "Deliver after 5 pm please.",
)
GATEWAYS = {
    "shopify": Weighted((("shopify_payments", 60), ("paypal", 25), ("klarna", 15))),
    "amazon": Weighted((("amazon_pay", 1),)),
    "store": Weighted((("pos_terminal", 80), ("cash", 20))),
    "phone": Weighted((("bank_transfer", 60), ("invoice", 40))),
}
HUBS = {"US": "Columbus, OH", "GB": "Northampton", "DE": "Leipzig", "FR": "Paris-Nord"}


@dataclass
class Line:
    id: uuid.UUID
    sellable: Sellable
    unit_price: Decimal
    quantity: int
    discount: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity - self.discount


def _pick_lines(shop: Shop, rng: random.Random, at: datetime, b2b: bool) -> list[Sellable]:
    wanted = LINES.pick(rng)
    chosen: dict[object, Sellable] = {}
    for _ in range(wanted * 4):
        candidate = rng.choice(shop.catalog.sellables)
        available = candidate.available_from <= at and (
            candidate.available_until is None or at < candidate.available_until
        )
        if available and not (b2b and candidate.department == "gift-cards"):
            chosen.setdefault(candidate.variant_id, candidate)
        if len(chosen) == wanted:
            break
    return list(chosen.values()) or [shop.catalog.sellables[0]]


def _discount(rng: random.Random, at: datetime, position: int) -> tuple[str | None, Decimal]:
    """A code and its percentage; ``position`` counts the customer's earlier orders."""
    draw = rng.random()
    if position == 0 and draw < 0.18:
        return "WELCOME10", Decimal("0.10")
    black_friday = (at.month == 11 and at.day >= 22) or (at.month == 12 and at.day <= 2)
    if black_friday and draw < 0.45:
        return "BLACKFRIDAY25", Decimal("0.25")
    if at.month in {6, 7, 8} and draw < 0.12:
        return "SUMMER15", Decimal("0.15")
    if position >= 4 and draw < 0.15:
        return "VIP20", Decimal("0.20")
    if draw > 0.96:
        return "FREESHIP", Decimal(0)
    return None, Decimal(0)


def _at_or_none(moment: datetime, now: datetime) -> datetime | None:
    return moment if moment <= now else None


class OrderBuilder:
    """Builds one customer's orders; records the figures the metrics will show on the plan."""

    def __init__(self, shop: Shop, plan: CustomerPlan, rows: Rows) -> None:
        self.shop = shop
        self.plan = plan
        self.rows = rows
        self.rng = shop.rng
        self.support: StaffMember | None = shop.staff_member(shop.rng, "support", "manager")
        self.built: list[tuple[uuid.UUID, OrderPlan, list[Line], str]] = []

    def build_all(self) -> None:
        for position, order in enumerate(self.plan.orders):
            self.build(order, position)

    def _timeline(
        self,
        *,
        kind: str,
        at: datetime,
        order_id: uuid.UUID,
        summary: str,
        data: dict[str, object],
        actor: StaffMember | None = None,
        actor_label: str = "system",
    ) -> None:
        entry(
            self.rows,
            self.shop,
            customer_id=self.plan.id,
            kind=kind,
            at=at,
            order_id=order_id,
            summary=summary,
            data=data,
            actor=actor,
            actor_label=actor_label,
        )

    def build(self, order: OrderPlan, position: int) -> None:
        shop, plan, rng, rows, now = self.shop, self.plan, self.rng, self.rows, self.shop.now
        placed = order.placed_at
        order_id = shop.ids.at(placed)
        currency = shop.order_currency(plan.currency)
        rate = shop.exchange_rate(currency)
        code, percent = _discount(rng, placed, position)
        lines: list[Line] = []
        for sellable in _pick_lines(shop, rng, placed, plan.b2b):
            quantity = QUANTITY.pick(rng) * (rng.randint(4, 12) if plan.b2b else 1)
            unit = shop.convert(sellable.price, shop.params.currency, currency)
            discount = cents(unit * quantity * percent)
            lines.append(Line(shop.ids.at(placed), sellable, unit, quantity, discount))
        subtotal = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
        discount_total = sum((line.discount for line in lines), Decimal(0))
        merchandise = subtotal - discount_total
        free_from = shop.convert(FREE_SHIPPING_FROM, "USD", currency)
        shipping = Decimal(0)
        if order.channel != "store" and code != "FREESHIP" and merchandise < free_from:
            shipping = shop.convert(plan.country.shipping_fee, plan.currency, currency)
        tax = cents((merchandise + shipping) * plan.country.tax_rate)
        total = merchandise + shipping + tax
        items = sum(line.quantity for line in lines)
        channel_id, channel_name = shop.channels[order.channel]

        # payment, cancellation and fulfilment, as far as time has come
        gateway = GATEWAYS[order.channel].pick(rng)
        if gateway == "klarna" and plan.country.code in {"US", "GB"}:
            gateway = "paypal"
        age = now - placed
        cancelled_at = None
        cancel_reason = ""
        financial = "paid"
        if rng.random() < 0.025 and order.channel != "store":
            cancelled_at = _at_or_none(placed + timedelta(minutes=rng.randint(10, 1200)), now)
        if cancelled_at is not None:
            cancel_reason = rng.choice(CANCEL_REASONS)
            financial = "voided"
        elif order.channel == "phone" and age < timedelta(days=5) and rng.random() < 0.5:
            financial = "pending"
        elif order.channel == "shopify" and age < timedelta(hours=20) and rng.random() < 0.4:
            financial = "authorized"

        summary_total = money(total, currency)
        self._timeline(
            kind="order_placed",
            at=placed,
            order_id=order_id,
            summary=f"Order {order.number} placed on {channel_name}: {summary_total}",
            data={"number": order.number, "total": str(total), "currency": currency,
                  "channel": channel_name, "items": items},
            actor_label=channel_name,
        )  # fmt: skip
        paid_at = placed + timedelta(seconds=rng.randint(3, 90))
        self._payments(order_id, order, gateway, financial, total, currency, placed, paid_at)
        if cancelled_at is not None:
            self._timeline(
                kind="order_cancelled",
                at=cancelled_at,
                order_id=order_id,
                summary=f"Order {order.number} cancelled: {cancel_reason}",
                data={"number": order.number, "reason": cancel_reason},
                actor=self.support,
            )

        updated = cancelled_at or paid_at
        fulfillment = "unfulfilled"
        delivered_at = None
        if financial == "paid":
            if order.channel == "store":
                fulfillment, delivered_at = "fulfilled", placed
            else:
                fulfillment, delivered_at, shipped_last = self._shipments(
                    order_id, order, lines, placed
                )
                updated = max(updated, shipped_last)

        refunded = Decimal(0)
        if delivered_at is not None:
            refunded, last_refund = self._after_delivery(
                order_id, order, lines, total, currency, delivered_at
            )
            updated = max(updated, last_refund)
        if refunded == total:
            financial = "refunded"
        elif refunded > 0:
            financial = "partially_refunded"

        billing = plan.address()
        tags = []
        if plan.b2b:
            tags.append("b2b")
        if any(line.sellable.department == "gift-cards" for line in lines):
            tags.append("gift")
            plan.tags.add("gift-buyer")
        if code == "BLACKFRIDAY25":
            plan.tags.add("black-friday")
        rows["shop_order"].append(
            (
                order_id, order.number, plan.id, channel_id, order.external_id, placed,
                financial, fulfillment, cancelled_at, cancel_reason, currency, rate, subtotal,
                discount_total, shipping, tax, total, refunded, items, [code] if code else [],
                billing, billing, rng.choice(NOTES) if rng.random() < 0.03 else "", tags, {},
                updated if order.external_id else None, placed, updated,
            )
        )  # fmt: skip
        for index, line in enumerate(lines):
            item = line.sellable
            rows["order_line"].append(
                (
                    line.id, order_id, item.product_id, item.variant_id, item.title,
                    item.variant_title, item.sku, line.unit_price, line.quantity, line.discount,
                    line.total, index,
                )
            )  # fmt: skip
        plan.touch(updated)
        if order.channel == "shopify":
            plan.shopify = True
        if cancelled_at is None:
            plan.orders_count += 1
            plan.spent += (total - refunded) * rate
            plan.last_order_at = placed
            for line in lines:
                plan.departments[line.sellable.department] += line.quantity
        self.built.append((order_id, order, lines, currency))

    def _payments(
        self,
        order_id: uuid.UUID,
        order: OrderPlan,
        gateway: str,
        financial: str,
        total: Decimal,
        currency: str,
        placed: datetime,
        paid_at: datetime,
    ) -> None:
        rng, rows, shop = self.rng, self.rows, self.shop
        reference = f"{gateway[:3]}_{rng.getrandbits(80):020x}"
        if (
            financial == "paid"
            and gateway in {"shopify_payments", "paypal"}
            and rng.random() < 0.03
        ):
            failed_at = placed + timedelta(seconds=2)
            rows["payment"].append(
                (shop.ids.at(failed_at), order_id, gateway, "sale", "failed", total, currency,
                 f"{reference}x", None, failed_at, failed_at)
            )  # fmt: skip
            self._timeline(
                kind="payment",
                at=failed_at,
                order_id=order_id,
                summary=f"Payment of {money(total, currency)} failed: card declined",
                data={"amount": str(total), "currency": currency, "gateway": gateway,
                      "status": "failed"},
            )  # fmt: skip
        kind, status = {
            "paid": ("sale", "succeeded"),
            "pending": ("sale", "pending"),
            "authorized": ("authorization", "authorized"),
            "voided": ("authorization", "voided"),
        }[financial]
        rows["payment"].append(
            (shop.ids.at(paid_at), order_id, gateway, kind, status, total, currency, reference,
             reference if order.external_id else None, paid_at, paid_at)
        )  # fmt: skip
        if financial == "paid":
            self._timeline(
                kind="payment",
                at=paid_at,
                order_id=order_id,
                summary=f"Payment of {money(total, currency)} received ({gateway})",
                data={"amount": str(total), "currency": currency, "gateway": gateway,
                      "status": status},
            )  # fmt: skip

    def _shipments(
        self, order_id: uuid.UUID, order: OrderPlan, lines: list[Line], placed: datetime
    ) -> tuple[str, datetime | None, datetime]:
        """(fulfilment status, when everything was delivered, last change)."""
        rng, now = self.rng, self.shop.now
        groups = [lines]
        if len(lines) > 1 and rng.random() < 0.05:
            cut = rng.randint(1, len(lines) - 1)
            groups = [lines[:cut], lines[cut:]]
        shipped, deliveries, last_change = 0, [], placed
        for number, group in enumerate(groups):
            label_at = placed + timedelta(hours=rng.uniform(1, 30) + number * rng.uniform(48, 140))
            if label_at > now:
                break
            was_shipped, delivered_at, last = self._shipment(order_id, order, group, label_at)
            shipped += was_shipped
            last_change = max(last_change, last)
            if delivered_at is not None:
                deliveries.append(delivered_at)
        everything = max(deliveries) if len(deliveries) == len(groups) else None
        if shipped == 0:
            return "unfulfilled", None, last_change
        return ("fulfilled" if shipped == len(groups) else "partial"), everything, last_change

    def _shipment(
        self, order_id: uuid.UUID, order: OrderPlan, lines: list[Line], label_at: datetime
    ) -> tuple[bool, datetime | None, datetime]:
        rng, rows, shop, plan, now = self.rng, self.rows, self.shop, self.plan, self.shop.now
        carrier = rng.choice(plan.country.carriers)
        tracking = fill(rng, carrier.pattern)
        shipped_at = label_at + timedelta(hours=rng.uniform(2, 26))
        attempt = shipped_at + timedelta(days=rng.randint(1, 4), hours=rng.uniform(0, 8))
        failed = rng.random() < 0.03
        delivered_at = attempt + timedelta(days=1) if failed else attempt
        hub = HUBS.get(plan.country.code, plan.country.cities[0].name)
        events = [
            ("pending", "Shipping label created", "", label_at),
            ("in_transit", f"Handed over to {carrier.name}", hub, shipped_at),
            ("out_for_delivery", "Out for delivery", plan.city.name, attempt - timedelta(hours=5)),
        ]
        if failed:
            events.append(("failed", "Delivery attempt failed: nobody at home", plan.city.name,
                           attempt))  # fmt: skip
            events.append(("out_for_delivery", "Second delivery attempt", plan.city.name,
                           delivered_at - timedelta(hours=4)))  # fmt: skip
        events.append(("delivered", "Delivered", plan.city.name, delivered_at))
        happened = [event for event in events if event[3] <= now]
        shipment_id = shop.ids.at(label_at)
        status = happened[-1][0]
        last = happened[-1][3]
        rows["shipment"].append(
            (
                shipment_id, order_id, carrier.name, tracking,
                carrier.tracking_url.format(tracking), status,
                [{"order_line_id": str(line.id), "quantity": line.quantity} for line in lines],
                order.channel == "shopify", None, _at_or_none(shipped_at, now),
                _at_or_none(delivered_at, now), label_at, last,
            )
        )  # fmt: skip
        for event_status, message, location, moment in happened:
            rows["shipment_event"].append(
                (shop.ids.at(moment), shipment_id, event_status, message, location, moment)
            )
        data = {"carrier": carrier.name, "tracking_number": tracking}
        if shipped_at <= now:
            self._timeline(
                kind="shipment",
                at=shipped_at,
                order_id=order_id,
                summary=f"Order {order.number} shipped with {carrier.name}",
                data={**data, "status": "in_transit"},
                actor_label=carrier.name,
            )
        if delivered_at <= now:
            self._timeline(
                kind="shipment",
                at=delivered_at,
                order_id=order_id,
                summary=f"Order {order.number} delivered",
                data={**data, "status": "delivered"},
                actor_label=carrier.name,
            )
        return shipped_at <= now, _at_or_none(delivered_at, now), last

    def _after_delivery(
        self,
        order_id: uuid.UUID,
        order: OrderPlan,
        lines: list[Line],
        total: Decimal,
        currency: str,
        delivered_at: datetime,
    ) -> tuple[Decimal, datetime]:
        """A return (about 5% of orders, more for clothes) or a goodwill refund."""
        rng, now = self.rng, self.shop.now
        returnable = [line for line in lines if line.sellable.returnable]
        draw = rng.random()
        if returnable and draw < 0.07:
            return self._return(order_id, order, returnable, total, currency, delivered_at)
        if draw > 0.98:
            moment = delivered_at + timedelta(days=rng.uniform(1, 10))
            if moment <= now:
                amount = max(
                    Decimal("1.00"), cents(total * Decimal(rng.choice((10, 15, 20))) / 100)
                )
                amount = min(amount, total)
                self._refund(order_id, order, None, amount, currency, rng.choice(GOODWILL), moment,
                             restock=False)  # fmt: skip
                return amount, moment
        return Decimal(0), delivered_at

    def _return(
        self,
        order_id: uuid.UUID,
        order: OrderPlan,
        returnable: list[Line],
        total: Decimal,
        currency: str,
        delivered_at: datetime,
    ) -> tuple[Decimal, datetime]:
        rng, rows, shop, plan, now = self.rng, self.rows, self.shop, self.plan, self.shop.now
        requested = delivered_at + timedelta(days=rng.uniform(1, 20))
        if requested > now:
            return Decimal(0), delivered_at
        chosen = returnable if rng.random() < 0.3 else [rng.choice(returnable)]
        reason = rng.choice(RETURN_REASONS)
        merchandise = sum((line.total for line in chosen), Decimal(0))
        amount = min(total, cents(merchandise * (1 + plan.country.tax_rate)))
        approved = received = refunded = resolved = None
        if rng.random() < 0.1:
            resolved = _at_or_none(requested + timedelta(days=2), now)
            status = "rejected" if resolved else "requested"
        else:
            approved = _at_or_none(requested + timedelta(hours=rng.uniform(2, 30)), now)
            if approved:
                received = _at_or_none(approved + timedelta(days=rng.uniform(3, 8)), now)
            if received:
                refunded = _at_or_none(received + timedelta(hours=rng.uniform(4, 48)), now)
            resolved = refunded
            status = (
                "refunded" if refunded else "received" if received else
                "approved" if approved else "requested"
            )  # fmt: skip
        shop.counters.returns += 1
        number = f"RMA-{shop.counters.returns:06d}"
        return_id = shop.ids.at(requested)
        restock = reason != "Damaged in transit"
        last = max(moment for moment in (requested, approved, received, resolved) if moment)
        rows["order_return"].append(
            (return_id, order_id, number, status, reason, "",
             amount if status != "rejected" else None, restock, approved, received, resolved,
             requested, last)
        )  # fmt: skip
        for line in chosen:
            rows["return_line"].append(
                (shop.ids.at(requested), return_id, line.id, line.quantity, reason)
            )
        if status != "rejected":
            plan.returns += 1
        self._timeline(
            kind="return",
            at=requested,
            order_id=order_id,
            summary=f"Return {number} requested for order {order.number}: {reason}",
            data={"number": number, "status": "requested", "reason": reason},
        )
        if status == "rejected" and resolved is not None:
            self._timeline(
                kind="return",
                at=resolved,
                order_id=order_id,
                summary=f"Return {number} rejected: outside the return window",
                data={"number": number, "status": "rejected"},
                actor=self.support,
            )
        if received is not None:
            self._timeline(
                kind="return",
                at=received,
                order_id=order_id,
                summary=f"Return {number} received",
                data={"number": number, "status": "received"},
                actor=self.support,
            )
        if refunded is None:
            return Decimal(0), last
        self._refund(order_id, order, return_id, amount, currency, f"Return {number}", refunded,
                     restock=restock)  # fmt: skip
        return amount, last

    def _refund(
        self,
        order_id: uuid.UUID,
        order: OrderPlan,
        return_id: uuid.UUID | None,
        amount: Decimal,
        currency: str,
        reason: str,
        moment: datetime,
        *,
        restock: bool,
    ) -> None:
        shop = self.shop
        external = str(shop.rng.getrandbits(40)) if order.external_id else None
        self.rows["refund"].append(
            (shop.ids.at(moment), order_id, return_id, amount, currency, reason, "", restock,
             external, moment, moment)
        )  # fmt: skip
        self._timeline(
            kind="refund",
            at=moment,
            order_id=order_id,
            summary=f"Refund of {money(amount, currency)} for order {order.number}: {reason}",
            data={"amount": str(amount), "currency": currency, "reason": reason},
            actor=self.support,
        )
