"""Shopify Admin REST API: customers, products and orders updated since a date, page by page.

Pages follow the cursor in the ``Link: <…page_info=…>; rel="next"`` header (only its
``page_info`` is kept: the next URL is rebuilt on the shop's own address). Shopify's leaky
bucket is reported in ``X-Shopify-Shop-Api-Call-Limit: used/size``; past 80 % of the bucket
the client waits for it to drain (two calls a second) before the next call.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from patron.config import Settings
from patron.integrations.storeapi import Pacing, Page, StoreAPIError, Transport, records_of
from patron.kit import outbound

API_VERSION = "2025-10"
PAGE_SIZE = 250
BUCKET_THRESHOLD = 0.8
LEAK_PER_SECOND = 2.0
NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
CALL_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def api_base(settings: Settings, shop_domain: str) -> str:
    """``https://<shop domain>``, or ``PATRON_STORE_API_BASE_URL`` for a test or staging
    server, which is honoured only where private addresses are allowed."""
    if settings.store_api_base_url and settings.store_api_allow_private:
        return settings.store_api_base_url.rstrip("/")
    return f"https://{shop_domain}"


def next_page_info(link: str) -> str | None:
    found = NEXT_LINK.search(link)
    if found is None:
        return None
    values = parse_qs(urlsplit(found.group(1)).query).get("page_info")
    return values[0] if values else None


class ShopifyClient:
    def __init__(
        self, settings: Settings, *, shop_domain: str, token: str, pacing: Pacing | None = None
    ) -> None:
        self.base = f"{api_base(settings, shop_domain)}/admin/api/{API_VERSION}"
        self.transport = Transport(settings, {"X-Shopify-Access-Token": token}, pacing or Pacing())

    async def _get(self, url: str) -> tuple[outbound.Reply, Any]:
        reply, body = await self.transport.get(url)
        self._follow_bucket(reply.headers.get("x-shopify-shop-api-call-limit", ""))
        return reply, body

    def _follow_bucket(self, header: str) -> None:
        found = CALL_LIMIT.match(header)
        if found is None:
            return
        used, size = int(found.group(1)), int(found.group(2))
        threshold = size * BUCKET_THRESHOLD
        if size > 0 and used >= threshold:
            self.transport.pause((used - threshold + 1) / LEAK_PER_SECOND)

    async def page(self, resource: str, *, since: datetime, cursor: str | None) -> Page:
        query: dict[str, str | int] = {"limit": PAGE_SIZE}
        if cursor:
            query["page_info"] = cursor  # Shopify refuses other filters next to page_info
        else:
            query["updated_at_min"] = since.isoformat()
            if resource == "orders":
                query["status"] = "any"
        reply, body = await self._get(f"{self.base}/{resource}.json?{urlencode(query)}")
        if not isinstance(body, dict):
            raise StoreAPIError(
                f"The store's {resource} page is not a JSON object.", code="store_bad_response"
            )
        records = records_of(body.get(resource), resource)
        return Page(records, next_page_info(reply.headers.get("link", "")))

    async def check(self) -> str:
        _, body = await self._get(f"{self.base}/shop.json")
        shop = body.get("shop") if isinstance(body, dict) else None
        if not isinstance(shop, dict):
            raise StoreAPIError("shop.json did not describe a shop.", code="store_bad_response")
        name = str(shop.get("name") or shop.get("myshopify_domain") or "the shop")
        return f"Connected to {name} through the Admin API."
