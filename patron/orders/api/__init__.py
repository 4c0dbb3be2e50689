"""The orders domain's JSON routes, one router per area."""

from fastapi import APIRouter

from patron.orders.api.carts import router as carts_router
from patron.orders.api.fulfilment import router as fulfilment_router
from patron.orders.api.orders import router as orders_router

routers: list[APIRouter] = [orders_router, fulfilment_router, carts_router]

__all__ = ["routers"]
