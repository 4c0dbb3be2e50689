"""Panel pages for customers: the list, creating one, and the customer 360."""

from __future__ import annotations

from fastapi import APIRouter

from patron.customers.views import addresses, create, listing, profile, timeline

router = APIRouter()
# the routes themselves, not included routers, so every route is listed with its path;
# fixed paths (/customers/new, /customers/export.csv) come before /customers/{customer_id}
for part in (listing, create, profile, addresses, timeline):
    router.routes.extend(part.router.routes)
