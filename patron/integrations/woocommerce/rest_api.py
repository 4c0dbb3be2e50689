"""WooCommerce REST API v3: customers, products and orders modified since a date.

Pages are numbered; ``X-WP-TotalPages`` says how many there are. The consumer key and secret
go in HTTP Basic authentication, over https only: WooCommerce itself accepts Basic only over
https, and Patron never puts them in a query string (where access logs keep them). A plain
http site is accepted only where private addresses are allowed (a local test or staging
server), still with Basic.

The customers endpoint filters neither by modification date nor sorts by it, so customers
are read by id and those not modified since the date are left out here.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from patron.config import Settings
from patron.integrations.storeapi import Pacing, Page, StoreAPIError, Transport, records_of

PAGE_SIZE = 100


def split_credentials(token: str) -> tuple[str, str]:
    key, _, secret = token.partition(":")
    if not key or not secret:
        raise StoreAPIError(
            "Give the WooCommerce REST API key and secret as the API token, as ck_…:cs_….",
            code="store_credentials_missing",
            status=409,
        )
    return key.strip(), secret.strip()


def _modified(record: dict[str, Any]) -> datetime | None:
    value = record.get("date_modified_gmt")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class WooCommerceClient:
    def __init__(
        self, settings: Settings, *, site: str, token: str, pacing: Pacing | None = None
    ) -> None:
        if urlsplit(site).scheme != "https" and not settings.store_api_allow_private:
            raise StoreAPIError(
                "The site must be served over https to read it through its API.",
                code="store_https_required",
                status=409,
            )
        key, secret = split_credentials(token)
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
        self.base = f"{site.rstrip('/')}/wp-json/wc/v3"
        self.transport = Transport(
            settings, {"Authorization": f"Basic {basic}"}, pacing or Pacing()
        )

    async def page(self, resource: str, *, since: datetime, cursor: str | None) -> Page:
        number = int(cursor) if cursor and cursor.isdigit() else 1
        query: dict[str, str | int] = {"per_page": PAGE_SIZE, "page": number, "order": "asc"}
        if resource == "customers":
            query["orderby"] = "id"
        else:
            query.update(orderby="modified", modified_after=since.isoformat(), dates_are_gmt="true")
        reply, body = await self.transport.get(f"{self.base}/{resource}?{urlencode(query)}")
        records = records_of(body, resource)
        if resource == "customers":
            records = [r for r in records if (_modified(r) or since) >= since]
        pages = reply.headers.get("x-wp-totalpages", "")
        more = number < int(pages) if pages.isdigit() else len(body) >= PAGE_SIZE
        return Page(records, str(number + 1) if more else None)

    async def check(self) -> str:
        reply, body = await self.transport.get(f"{self.base}/orders?per_page=1")
        if not isinstance(body, list):
            raise StoreAPIError("The orders list is not a list.", code="store_bad_response")
        total = reply.headers.get("x-wp-total", "")
        count = f"{total} orders" if total.isdigit() else "its orders"
        return f"Connected to the WooCommerce REST API ({count} in the store)."
