"""Panel pages for orders and carts: the lists, the order page and its actions."""

from __future__ import annotations

from fastapi import APIRouter

from patron.orders.views import actions, detail, listing

router = APIRouter()
# the routes themselves, not included routers, so every route is listed with its path
for part in (listing, detail, actions):
    router.routes.extend(part.router.routes)
