"""Around the orders: consent with its history, carts (abandoned, recovered, open), and the
notes, calls and meetings staff log on a customer."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from patron.demo_shop.customers import CustomerPlan
from patron.demo_shop.orders import Line
from patron.demo_shop.shop import Shop, StaffMember, entry
from patron.demo_shop.tables import Rows
from patron.timeline.service import render_markdown

CHANNEL_NAMES = {"email": "email", "sms": "SMS"}
NOTES = (
    "Prefers delivery to the **office**; reception takes parcels until 6 pm.",
    "Asked when the merino range is back in stock. Promised an email when it is.",
    "Loyal customer, very happy with the knitwear. Offer early access to the winter drop.",
    "Last parcel arrived damaged. Double-check the packaging on the next order.",
    "Interested in a **wholesale account**: send the price list and payment terms.",
    "Sizes run small for them: recommend one size up in knitwear.",
    "Complained about a slow delivery; offered **10% off** the next order as goodwill.",
    "Buys gifts every December. Remind them of gift wrapping in November.",
    "Prefers to be called rather than emailed, ideally in the morning.",
)
CALLS = (  # summary, outcome, body
    ("Where is my parcel?", "resolved", "Tracking shows it at the local depot; due tomorrow."),
    ("Change of delivery address", "resolved", "Updated the address before shipping."),
    ("Damaged item", "replacement sent", "Replacement agreed; no need to send it back."),
    ("Wholesale enquiry follow-up", "follow-up", "Sending the terms by email this week."),
    ("Size advice", "resolved", "Chelsea boots: recommended going half a size down."),
)
MEETINGS = (
    "Quarterly review: reorder plan for spring agreed.",
    "Showroom visit: picked samples for their new store.",
)
EMAILS_LOGGED = (
    "Sent the care guide for the waxed jacket.",
    "Emailed the invoice copy they asked for.",
)


def _ip(rng: random.Random) -> str:
    return rng.choice(("203.0.113.", "198.51.100.", "192.0.2.")) + str(rng.randint(1, 254))


def consent_rows(shop: Shop, plan: CustomerPlan, rows: Rows) -> set[str]:
    """Consent per channel with its full history; returns the channels subscribed to."""
    rng, now = shop.rng, shop.now
    subscribed: set[str] = set()
    buyer = plan.kind != "lead"
    for channel in ("email", "sms"):
        if channel == "email" and not plan.email:
            continue
        if channel == "sms" and (not plan.phone or rng.random() > 0.35):
            continue
        draw = rng.random()
        if channel == "email":
            final = (
                "subscribed" if draw < 0.5 else "unsubscribed" if draw < 0.65
                else "pending" if draw < 0.7 else None
            )  # fmt: skip
        else:
            final = "subscribed" if draw < 0.6 else "unsubscribed"
        if final is None:
            continue  # never asked: no consent row at all
        source = "checkout" if buyer else "newsletter_form"
        version = "checkout-2025-01" if buyer else "newsletter-2024-09"
        start = plan.created_at + timedelta(seconds=rng.randint(5, 300))
        history: list[tuple[str, str | None, datetime, str, str]] = []
        if channel == "email" and not buyer:  # double opt-in
            history.append(("pending", None, start, source, "customer"))
            if final != "pending":
                confirmed = start + timedelta(minutes=rng.randint(1, 180))
                history.append(("subscribed", "pending", confirmed, "double_opt_in", "customer"))
        elif final != "pending":
            history.append(("subscribed", None, start, source, "customer"))
        else:
            history.append(("pending", None, start, source, "customer"))
        if final == "unsubscribed":
            latest = history[-1][2]
            moment = latest + (now - latest) * rng.random()
            history.append(("unsubscribed", "subscribed", moment, "unsubscribe_link", "customer"))
        history = [event for event in history if event[2] <= now] or history[:1]
        ip = _ip(rng)
        for status, previous, moment, event_source, actor in history:
            rows["consent_event"].append(
                (shop.ids.at(moment), plan.id, channel, "marketing", status, previous, moment,
                 event_source, version, ip, actor)
            )  # fmt: skip
            name = CHANNEL_NAMES[channel]
            summary = {
                "subscribed": f"Subscribed to {name} marketing ({event_source})",
                "unsubscribed": f"Unsubscribed from {name} marketing ({event_source})",
                "pending": f"Signed up for {name} marketing; waiting for the confirmation",
            }[status]
            entry(
                rows,
                shop,
                customer_id=plan.id,
                kind="consent",
                at=moment,
                summary=summary,
                data={"channel": channel, "purpose": "marketing", "status": status,
                      "previous_status": previous, "source": event_source},
                actor_label=actor,
            )  # fmt: skip
        status, _, changed_at, last_source, _ = history[-1]
        rows["consent"].append(
            (shop.ids.at(start), plan.id, channel, "marketing", status, changed_at, last_source,
             version, ip)
        )  # fmt: skip
        if status == "subscribed":
            subscribed.add(channel)
    return subscribed


def _items(lines: list[tuple[Any, int, Decimal]]) -> tuple[list[dict[str, Any]], Decimal]:
    items = [
        {
            "variant_id": str(sellable.variant_id),
            "product_id": str(sellable.product_id),
            "sku": sellable.sku,
            "title": sellable.title,
            "variant_title": sellable.variant_title,
            "quantity": quantity,
            "unit_price": str(price),
        }
        for sellable, quantity, price in lines
    ]
    return items, sum((price * quantity for _, quantity, price in lines), Decimal(0))


def _cart(
    shop: Shop,
    rows: Rows,
    *,
    customer_id: uuid.UUID | None,
    email: str | None,
    currency: str,
    lines: list[tuple[Any, int, Decimal]],
    last_activity: datetime,
    recovered_order_id: uuid.UUID | None = None,
) -> None:
    rng = shop.rng
    minutes = shop.params.cart_abandoned_after_minutes
    abandoned = last_activity + timedelta(minutes=minutes)
    if recovered_order_id is not None:
        status = "recovered"
    elif abandoned <= shop.now:
        status = "abandoned"
    else:
        status, abandoned = "open", None  # type: ignore[assignment]
    items, value = _items(lines)
    token = f"{rng.getrandbits(64):016x}"
    created = last_activity - timedelta(minutes=rng.randint(2, 90))
    rows["cart"].append(
        (shop.ids.at(created), customer_id, email, shop.channels["shopify"][0], token, currency,
         value, items, status, f"https://shop.example/checkouts/{token}/recover", last_activity,
         abandoned, recovered_order_id, created, abandoned or last_activity)
    )  # fmt: skip


def cart_rows(
    shop: Shop,
    plan: CustomerPlan,
    rows: Rows,
    built: list[tuple[uuid.UUID, Any, list[Line], str]],
) -> None:
    """Recovered carts before a few orders, abandoned ones (more often for leads), a few open."""
    rng, now = shop.rng, shop.now
    for order_id, order, lines, currency in built:
        if order.channel == "shopify" and rng.random() < 0.05:
            last_activity = order.placed_at - timedelta(hours=rng.uniform(2, 72))
            if last_activity > plan.created_at:
                _cart(shop, rows, customer_id=plan.id, email=plan.email, currency=currency,
                      lines=[(line.sellable, line.quantity, line.unit_price) for line in lines],
                      last_activity=last_activity, recovered_order_id=order_id)  # fmt: skip
                plan.has_cart = True
    draw = rng.random()
    chance = 0.35 if plan.kind == "lead" else 0.08
    if draw < chance or draw > 0.996:
        if draw > 0.996:
            minutes = max(1, shop.params.cart_abandoned_after_minutes - 1)
            last_activity = now - timedelta(minutes=rng.randint(1, minutes))
        elif rng.random() < 0.5:
            last_activity = now - timedelta(days=rng.uniform(0.1, 30))
        else:
            last_activity = plan.created_at + (now - plan.created_at) * rng.random()
        last_activity = max(last_activity, plan.created_at + timedelta(minutes=1))
        if last_activity > now:
            return
        currency = shop.order_currency(plan.currency)
        wanted: list[tuple[Any, int, Decimal]] = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            sellable = rng.choice(shop.catalog.sellables)
            price = shop.convert(sellable.price, shop.params.currency, currency)
            wanted.append((sellable, rng.choice((1, 1, 1, 2)), price))
        _cart(shop, rows, customer_id=plan.id, email=plan.email, currency=currency, lines=wanted,
              last_activity=last_activity)  # fmt: skip
        plan.has_cart = True
        plan.touch(last_activity)


def guest_cart(shop: Shop, rows: Rows, email: str) -> None:
    rng = shop.rng
    sellable = rng.choice(shop.catalog.sellables)
    last_activity = shop.now - timedelta(days=rng.uniform(0.1, 60))
    _cart(shop, rows, customer_id=None, email=email, currency=shop.params.currency,
          lines=[(sellable, 1, sellable.price)], last_activity=last_activity)  # fmt: skip


@cache
def _html(markdown: str) -> str:
    return render_markdown(markdown)


def staff_activity(shop: Shop, plan: CustomerPlan, rows: Rows) -> None:
    """Notes, logged calls, meetings and emails by the staff who look after this customer."""
    rng, now = shop.rng, shop.now
    if not shop.params.staff:
        return

    def author() -> StaffMember | None:
        return plan.owner or shop.staff_member(rng, "support", "sales", "manager")

    def moment() -> datetime:
        return plan.created_at + (now - plan.created_at) * rng.random()

    important = plan.b2b or plan.spent >= shop.params.vip_spent
    note_chance = 0.5 if important else 0.08
    if rng.random() < note_chance:
        for number in range(rng.choice((1, 1, 2, 3))):
            text = rng.choice(NOTES)
            at = moment()
            pinned = number == 0 and important and rng.random() < 0.5
            entry(rows, shop, customer_id=plan.id, kind="note", at=at, summary=text,
                  data={"mentions": []}, actor=author(), body=text, body_html=_html(text),
                  pinned=pinned)  # fmt: skip
            plan.touch(at)
    if rng.random() < (0.3 if important else 0.04):
        summary, outcome, text = rng.choice(CALLS)
        at = moment()
        entry(rows, shop, customer_id=plan.id, kind="call", at=at, summary=summary,
              data={"duration_minutes": rng.randint(2, 25), "outcome": outcome},
              actor=author(), body=text, body_html=_html(text))  # fmt: skip
        plan.touch(at)
    if plan.b2b and rng.random() < 0.5:
        text = rng.choice(MEETINGS)
        at = moment()
        entry(rows, shop, customer_id=plan.id, kind="meeting", at=at, summary=text,
              data={"duration_minutes": rng.choice((30, 45, 60)), "outcome": "agreed"},
              actor=author())  # fmt: skip
    if rng.random() < 0.03:
        text = rng.choice(EMAILS_LOGGED)
        entry(rows, shop, customer_id=plan.id, kind="email_logged", at=moment(), summary=text,
              data={"duration_minutes": None, "outcome": ""}, actor=author())  # fmt: skip
