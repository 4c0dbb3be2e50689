"""Order services: the only code that changes orders, payments, shipments, returns and carts.

Every function takes keyword-only arguments after the objects it works on, only flushes
(the request or job owns the transaction), writes the customer timeline and the audit log,
and keeps the customer's metrics current.
"""

from patron.orders.service.carts import mark_abandoned_carts, upsert_cart
from patron.orders.service.channels import (
    create_channel,
    delete_channel,
    get_channel,
    update_channel,
)
from patron.orders.service.edits import Charges, edit_lines
from patron.orders.service.orders import (
    LineRequest,
    PaymentRequest,
    cancel_order,
    order_id_from_token,
    place_order,
    tracking_token,
    tracking_url,
    update_order,
)
from patron.orders.service.payments import (
    change_payment_status,
    record_payment,
    record_refund,
    refundable,
)
from patron.orders.service.returns import ReturnLineRequest, create_return, transition_return
from patron.orders.service.shipments import (
    add_shipment_event,
    create_shipment,
    update_shipment,
)

__all__ = [
    "Charges",
    "LineRequest",
    "PaymentRequest",
    "ReturnLineRequest",
    "add_shipment_event",
    "cancel_order",
    "change_payment_status",
    "create_channel",
    "create_return",
    "create_shipment",
    "delete_channel",
    "edit_lines",
    "get_channel",
    "mark_abandoned_carts",
    "order_id_from_token",
    "place_order",
    "record_payment",
    "record_refund",
    "refundable",
    "tracking_token",
    "tracking_url",
    "transition_return",
    "update_channel",
    "update_order",
    "update_shipment",
    "upsert_cart",
]
