"""Every route, every role: who may call what.

The table below must name every route; a new route without an entry fails the suite, so
nobody adds an endpoint without deciding who may use it.
"""

from __future__ import annotations

import re
import uuid

import httpx2
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from patron.app import api_routers, ops_routers, panel_routers
from patron.auth.scopes import BUILTIN_ROLE_NAMES
from tests.conftest import MakeKey, MakeUser, bearer, form_token, principal_for, sign_in

PUBLIC = "public"  # anyone, signed in or not
SIGNED = "signed"  # any signed-in person or API key
# path parameters of the catalog and order routes, filled with ids of nothing
SHOP_IDS = (
    "category_id",
    "product_id",
    "variant_id",
    "order_id",
    "payment_id",
    "shipment_id",
    "return_id",
    "channel_id",
)

RULES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/me"): SIGNED,
    ("GET", "/api/v1/scopes"): SIGNED,
    ("GET", "/api/v1/users"): "users:read",
    ("GET", "/api/v1/users/{user_id}"): "users:read",
    ("POST", "/api/v1/users"): "settings:admin",
    ("PATCH", "/api/v1/users/{user_id}"): "settings:admin",
    ("POST", "/api/v1/users/{user_id}/unlock"): "settings:admin",
    ("POST", "/api/v1/users/{user_id}/invite"): "settings:admin",
    ("GET", "/api/v1/roles"): "users:read",
    ("GET", "/api/v1/roles/{name}"): "users:read",
    ("POST", "/api/v1/roles"): "settings:admin",
    ("PATCH", "/api/v1/roles/{name}"): "settings:admin",
    ("DELETE", "/api/v1/roles/{name}"): "settings:admin",
    ("GET", "/api/v1/teams"): "users:read",
    ("POST", "/api/v1/teams"): "settings:admin",
    ("GET", "/api/v1/api-keys"): SIGNED,
    ("POST", "/api/v1/api-keys"): SIGNED,
    ("GET", "/api/v1/api-keys/{key_id}"): SIGNED,
    ("DELETE", "/api/v1/api-keys/{key_id}"): SIGNED,
    ("GET", "/api/v1/audit-events"): "audit:read",
    ("GET", "/api/v1/jobs/failed"): "settings:admin",
    ("GET", "/api/v1/jobs/counts"): "settings:admin",
    ("POST", "/api/v1/jobs/{job_id}/retry"): "settings:admin",
    ("GET", "/api/v1/customers"): "customers:read",
    ("POST", "/api/v1/customers"): "customers:write",
    ("POST", "/api/v1/customers/bulk"): "customers:write",
    ("GET", "/api/v1/customers/{customer_id}"): "customers:read",
    ("POST", "/api/v1/customers/{customer_id}/privacy-export"): "customers:read+customers:export",
    ("POST", "/api/v1/customers/{customer_id}/erasure"): "customers:read+customers:erase",
    ("GET", "/api/v1/privacy/requests"): "customers:read",
    ("GET", "/api/v1/privacy/requests/{request_id}"): "customers:read",
    ("GET", "/api/v1/privacy/requests/{request_id}/download"): "customers:read+customers:export",
    ("POST", "/customers/{customer_id}/privacy-export"): "customers:read+customers:export",
    ("GET", "/customers/{customer_id}/erase"): "customers:read+customers:erase",
    ("POST", "/customers/{customer_id}/erase"): "customers:read+customers:erase",
    ("GET", "/admin/privacy"): "customers:read+customers:export",
    ("GET", "/admin/privacy/{request_id}/download"): "customers:read+customers:export",
    ("POST", "/admin/privacy/{request_id}/retry"): "customers:read+customers:export",
    ("PATCH", "/api/v1/customers/{customer_id}"): "customers:write",
    ("POST", "/api/v1/customers/{customer_id}/addresses"): "customers:write",
    ("PATCH", "/api/v1/customers/{customer_id}/addresses/{address_id}"): "customers:write",
    ("DELETE", "/api/v1/customers/{customer_id}/addresses/{address_id}"): "customers:write",
    ("POST", "/api/v1/customers/{customer_id}/emails"): "customers:write",
    ("POST", "/api/v1/customers/{customer_id}/phones"): "customers:write",
    ("DELETE", "/api/v1/customers/{customer_id}/contacts/{contact_id}"): "customers:write",
    ("POST", "/api/v1/customers/{customer_id}/external-ids"): "customers:write",
    ("PUT", "/api/v1/customers/{customer_id}/consents/{channel}"): "customers:write",
    ("GET", "/api/v1/customers/{customer_id}/consents/history"): "customers:read",
    ("GET", "/api/v1/customers/export.csv"): "customers:export",
    ("GET", "/api/v1/customers/export.xlsx"): "customers:export",
    ("GET", "/api/v1/saved-views"): "customers:read",
    ("POST", "/api/v1/saved-views"): "customers:read",
    ("DELETE", "/api/v1/saved-views/{view_id}"): "customers:read",
    ("GET", "/api/v1/customers/{customer_id}/timeline"): "customers:read+interactions:read",
    ("POST", "/api/v1/customers/{customer_id}/notes"): "customers:read+interactions:write",
    ("PATCH", "/api/v1/customers/{customer_id}/timeline/{entry_id}"): (
        "customers:read+interactions:write"
    ),
    ("DELETE", "/api/v1/customers/{customer_id}/timeline/{entry_id}"): (
        "customers:read+interactions:write"
    ),
    ("POST", "/api/v1/customers/{customer_id}/activities"): "customers:read+interactions:write",
    ("POST", "/api/v1/customers/{customer_id}/attachments"): "customers:read+interactions:write",
    ("GET", "/api/v1/customers/{customer_id}/attachments/{attachment_id}"): (
        "customers:read+interactions:read"
    ),
    ("GET", "/api/v1/duplicates"): "customers:read",
    ("POST", "/api/v1/duplicates/scan"): "customers:write",
    ("POST", "/api/v1/duplicates/{candidate_id}/dismiss"): "customers:write",
    ("POST", "/api/v1/customers/{customer_id}/merge"): "customers:write",
    ("GET", "/customers/duplicates"): "customers:read",
    ("POST", "/customers/duplicates/scan"): "customers:write",
    ("POST", "/customers/duplicates/{candidate_id}/dismiss"): "customers:write",
    ("GET", "/customers/merge"): "customers:write",
    ("POST", "/customers/merge"): "customers:write",
    ("GET", "/api/v1/custom-fields"): SIGNED,
    ("POST", "/api/v1/custom-fields"): "settings:admin",
    ("PATCH", "/api/v1/custom-fields/{field_id}"): "settings:admin",
    ("DELETE", "/api/v1/custom-fields/{field_id}"): "settings:admin",
    ("GET", "/admin/custom-fields"): "settings:admin",
    ("POST", "/admin/custom-fields"): "settings:admin",
    ("POST", "/admin/custom-fields/{field_id}/delete"): "settings:admin",
    ("GET", "/api/v1/notifications"): SIGNED,
    ("POST", "/api/v1/notifications/{notification_id}/read"): SIGNED,
    ("GET", "/api/v1/categories"): "catalog:read",
    ("POST", "/api/v1/categories"): "catalog:write",
    ("GET", "/api/v1/categories/{category_id}"): "catalog:read",
    ("PATCH", "/api/v1/categories/{category_id}"): "catalog:write",
    ("DELETE", "/api/v1/categories/{category_id}"): "catalog:write",
    ("GET", "/api/v1/products"): "catalog:read",
    ("GET", "/api/v1/products/low-stock"): "catalog:read",
    ("POST", "/api/v1/products"): "catalog:write",
    ("GET", "/api/v1/products/{product_id}"): "catalog:read",
    ("PATCH", "/api/v1/products/{product_id}"): "catalog:write",
    ("DELETE", "/api/v1/products/{product_id}"): "catalog:write",
    ("GET", "/api/v1/products/{product_id}/variants"): "catalog:read",
    ("POST", "/api/v1/products/{product_id}/variants"): "catalog:write",
    ("GET", "/api/v1/products/{product_id}/variants/{variant_id}"): "catalog:read",
    ("PATCH", "/api/v1/products/{product_id}/variants/{variant_id}"): "catalog:write",
    ("DELETE", "/api/v1/products/{product_id}/variants/{variant_id}"): "catalog:write",
    ("GET", "/api/v1/orders"): "orders:read",
    ("GET", "/api/v1/orders/export.csv"): "orders:read+customers:export",
    ("GET", "/api/v1/orders/export.xlsx"): "orders:read+customers:export",
    ("POST", "/api/v1/orders"): "orders:write",
    ("GET", "/api/v1/orders/{order_id}"): "orders:read",
    ("PATCH", "/api/v1/orders/{order_id}"): "orders:write",
    ("POST", "/api/v1/orders/{order_id}/cancel"): "orders:write",
    ("POST", "/api/v1/orders/{order_id}/payments"): "orders:write",
    ("PATCH", "/api/v1/orders/{order_id}/payments/{payment_id}"): "orders:write",
    ("POST", "/api/v1/orders/{order_id}/refunds"): "orders:write",
    ("POST", "/api/v1/orders/{order_id}/shipments"): "orders:write",
    ("PATCH", "/api/v1/orders/{order_id}/shipments/{shipment_id}"): "orders:write",
    ("POST", "/api/v1/orders/{order_id}/shipments/{shipment_id}/events"): "orders:write",
    ("GET", "/api/v1/orders/{order_id}/returns"): "orders:read",
    ("POST", "/api/v1/orders/{order_id}/returns"): "orders:write",
    ("POST", "/api/v1/orders/{order_id}/returns/{return_id}/status"): "orders:write",
    ("PUT", "/api/v1/carts/by-external-id/{channel_id}/{external_id}"): "orders:write",
    ("PUT", "/api/v1/orders/by-external-id/{channel_id}/{external_id}"): "orders:write",
    ("POST", "/api/v1/events"): "events:write",
    ("POST", "/api/v1/events/batch"): "events:write",
    ("POST", "/api/v1/events/identify"): "events:write",
    ("GET", "/api/v1/customers/{customer_id}/events"): "customers:read",
    ("POST", "/api/v1/segments/preview"): "segments:read+customers:read",
    ("POST", "/api/v1/segments/validate"): "segments:read",
    ("GET", "/api/v1/segments"): "segments:read",
    ("POST", "/api/v1/segments"): "segments:write",
    ("GET", "/api/v1/segments/{segment_id}"): "segments:read",
    ("DELETE", "/api/v1/segments/{segment_id}"): "segments:write",
    ("POST", "/api/v1/segments/{segment_id}/refresh"): "segments:write",
    ("GET", "/api/v1/segments/{segment_id}/members"): "segments:read+customers:read",
    ("POST", "/api/v1/segments/{segment_id}/members"): "segments:write+customers:read",
    ("GET", "/api/v1/segments/{segment_id}/history"): "segments:read",
    ("POST", "/api/v1/segments/text"): "segments:read",
    ("GET", "/segments"): "segments:read",
    ("GET", "/segments/new"): "segments:write",
    ("POST", "/segments/new"): "segments:write",
    ("POST", "/segments/preview"): "segments:read+customers:read",
    ("GET", "/segments/{segment_id}"): "segments:read",
    ("GET", "/segments/{segment_id}/edit"): "segments:write",
    ("POST", "/segments/{segment_id}/edit"): "segments:write",
    ("POST", "/segments/{segment_id}/refresh"): "segments:write",
    ("GET", "/segments/{segment_id}/delete"): "segments:write",
    ("POST", "/segments/{segment_id}/delete"): "segments:write",
    ("POST", "/segments/{segment_id}/members"): "segments:write+customers:read",
    ("POST", "/segments/{segment_id}/members/{customer_id}/remove"): (
        "segments:write+customers:read"
    ),
    ("GET", "/api/v1/reports/rfm"): "reports:read",
    ("GET", "/api/v1/reports/rfm.csv"): "reports:read",
    ("GET", "/reports/rfm"): "reports:read",
    ("POST", "/reports/rfm/score"): "reports:read+settings:admin",
    ("GET", "/api/v1/segments/{segment_id}/members.csv"): "segments:read+customers:export",
    ("GET", "/api/v1/segments/{segment_id}/members.xlsx"): "segments:read+customers:export",
    ("GET", "/api/v1/carts"): "orders:read",
    ("GET", "/api/v1/channels"): "orders:read",
    ("POST", "/api/v1/channels"): "settings:admin",
    ("GET", "/api/v1/channels/{channel_id}"): "orders:read",
    ("PATCH", "/api/v1/channels/{channel_id}"): "settings:admin",
    ("DELETE", "/api/v1/channels/{channel_id}"): "settings:admin",
    ("GET", "/track/{token}"): PUBLIC,
    ("GET", "/orders"): "orders:read",
    ("GET", "/orders/{order_id}"): "orders:read",
    ("POST", "/orders/{order_id}/payments"): "orders:write",
    ("POST", "/orders/{order_id}/payments/{payment_id}/status"): "orders:write",
    ("POST", "/orders/{order_id}/refunds"): "orders:write",
    ("POST", "/orders/{order_id}/shipments"): "orders:write",
    ("POST", "/orders/{order_id}/shipments/{shipment_id}"): "orders:write",
    ("POST", "/orders/{order_id}/shipments/{shipment_id}/events"): "orders:write",
    ("POST", "/orders/{order_id}/returns"): "orders:write",
    ("POST", "/orders/{order_id}/returns/{return_id}/status"): "orders:write",
    ("GET", "/orders/export.xlsx"): "orders:read+customers:export",
    ("POST", "/orders/{order_id}/details"): "orders:write",
    ("POST", "/orders/{order_id}/cancel"): "orders:write",
    ("GET", "/carts"): "orders:read",
    ("GET", "/products"): "catalog:read",
    ("GET", "/products/low-stock"): "catalog:read",
    ("GET", "/products/{product_id}"): "catalog:read",
    ("POST", "/products/{product_id}/variants/{variant_id}"): "catalog:write",
    # imports: customers:write admits (every built-in role with catalog:write or orders:write
    # has it too); each job then needs its entity's scope (tests/test_imports.py)
    ("POST", "/api/v1/imports"): "customers:write",
    ("GET", "/api/v1/imports"): "customers:write",
    ("GET", "/api/v1/import-fields"): "customers:write",
    ("GET", "/api/v1/imports/{import_id}"): "customers:write",
    ("PATCH", "/api/v1/imports/{import_id}"): "customers:write",
    ("POST", "/api/v1/imports/{import_id}/dry-run"): "customers:write",
    ("POST", "/api/v1/imports/{import_id}/start"): "customers:write",
    ("POST", "/api/v1/imports/{import_id}/cancel"): "customers:write",
    ("GET", "/api/v1/imports/{import_id}/errors.csv"): "customers:write",
    ("GET", "/api/v1/import-mappings"): "customers:write",
    ("POST", "/api/v1/import-mappings"): "customers:write",
    ("GET", "/api/v1/import-mappings/{mapping_id}"): "customers:write",
    ("PATCH", "/api/v1/import-mappings/{mapping_id}"): "customers:write",
    ("DELETE", "/api/v1/import-mappings/{mapping_id}"): "customers:write",
    ("GET", "/imports"): "customers:write",
    ("GET", "/imports/new"): "customers:write",
    ("POST", "/imports/new"): "customers:write",
    ("GET", "/imports/{import_id}"): "customers:write",
    ("GET", "/imports/{import_id}/progress"): "customers:write",
    ("GET", "/imports/{import_id}/errors.csv"): "customers:write",
    ("POST", "/imports/{import_id}/mapping"): "customers:write",
    ("POST", "/imports/{import_id}/save-mapping"): "customers:write",
    ("POST", "/imports/{import_id}/dry-run"): "customers:write",
    ("POST", "/imports/{import_id}/start"): "customers:write",
    ("POST", "/imports/{import_id}/cancel"): "customers:write",
    ("GET", "/api/v1/integrations/connections"): "integrations:read",
    ("POST", "/api/v1/integrations/connections"): "integrations:write",
    ("GET", "/api/v1/integrations/connections/{connection_id}"): "integrations:read",
    ("PATCH", "/api/v1/integrations/connections/{connection_id}"): "integrations:write",
    ("DELETE", "/api/v1/integrations/connections/{connection_id}"): "integrations:write",
    ("GET", "/api/v1/integrations/connections/{connection_id}/receipts"): "integrations:read",
    ("POST", "/api/v1/integrations/connections/{connection_id}/receipts/{receipt_id}/reprocess"): (
        "integrations:write"
    ),
    ("POST", "/api/v1/integrations/connections/{connection_id}/test"): "integrations:write",
    ("POST", "/api/v1/integrations/connections/{connection_id}/backfills"): "integrations:write",
    ("GET", "/api/v1/integrations/connections/{connection_id}/backfills"): "integrations:read",
    ("GET", "/api/v1/integrations/connections/{connection_id}/backfills/{backfill_id}"): (
        "integrations:read"
    ),
    ("GET", "/integrations"): "integrations:read",
    ("GET", "/integrations/new"): "integrations:write",
    ("POST", "/integrations/new"): "integrations:write",
    ("GET", "/integrations/{connection_id}"): "integrations:read",
    ("POST", "/integrations/{connection_id}/status"): "integrations:write",
    ("POST", "/integrations/{connection_id}/delete"): "integrations:write",
    ("POST", "/integrations/{connection_id}/receipts/{receipt_id}/reprocess"): "integrations:write",
    ("GET", "/integrations/{connection_id}/backfill"): "integrations:read",
    ("POST", "/integrations/{connection_id}/test"): "integrations:write",
    ("POST", "/integrations/{connection_id}/backfills"): "integrations:write",
    ("POST", "/webhooks/shopify/{connection_id}"): PUBLIC,  # signed by the store instead
    ("POST", "/webhooks/woocommerce/{connection_id}"): PUBLIC,
    ("POST", "/webhooks/stripe/{connection_id}"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/"): SIGNED,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/login/2fa"): PUBLIC,
    ("POST", "/login/2fa"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/password/forgot"): PUBLIC,
    ("POST", "/password/forgot"): PUBLIC,
    ("GET", "/password/reset/{token}"): PUBLIC,
    ("POST", "/password/reset/{token}"): PUBLIC,
    ("GET", "/invite/{token}"): PUBLIC,
    ("POST", "/invite/{token}"): PUBLIC,
    ("GET", "/account"): SIGNED,
    ("POST", "/account"): SIGNED,
    ("POST", "/account/password"): SIGNED,
    ("GET", "/account/security"): SIGNED,
    ("GET", "/account/2fa/setup"): SIGNED,
    ("POST", "/account/2fa/setup"): SIGNED,
    ("GET", "/account/2fa/qr.svg"): SIGNED,
    ("POST", "/account/2fa/disable"): SIGNED,
    ("POST", "/account/2fa/recovery-codes"): SIGNED,
    ("POST", "/account/sessions/{session_id}/revoke"): SIGNED,
    ("POST", "/account/sessions/revoke-others"): SIGNED,
    ("GET", "/account/api-keys"): SIGNED,
    ("POST", "/account/api-keys"): SIGNED,
    ("POST", "/account/api-keys/{key_id}/revoke"): SIGNED,
    ("GET", "/admin/users"): "settings:admin",
    ("GET", "/admin/users/new"): "settings:admin",
    ("POST", "/admin/users/new"): "settings:admin",
    ("GET", "/admin/users/{user_id}"): "settings:admin",
    ("POST", "/admin/users/{user_id}"): "settings:admin",
    ("POST", "/admin/users/{user_id}/{action}"): "settings:admin",
    ("POST", "/admin/users/{user_id}/api-keys"): "settings:admin",
    ("POST", "/admin/teams"): "settings:admin",
    ("GET", "/admin/roles"): "settings:admin",
    ("GET", "/admin/roles/new"): "settings:admin",
    ("POST", "/admin/roles/new"): "settings:admin",
    ("GET", "/admin/roles/{name}"): "settings:admin",
    ("POST", "/admin/roles/{name}"): "settings:admin",
    ("POST", "/admin/roles/{name}/delete"): "settings:admin",
    ("GET", "/admin/api-keys"): "settings:admin",
    ("POST", "/admin/api-keys/{key_id}/revoke"): "settings:admin",
    ("GET", "/admin/audit"): "audit:read",
    ("GET", "/admin/jobs"): "settings:admin",
    ("POST", "/admin/jobs/{job_id}/retry"): "settings:admin",
    ("GET", "/admin/mailbox"): "settings:admin",
    ("GET", "/admin/mailbox/{message_id}"): "settings:admin",
    ("GET", "/api/v1/webhooks/event-types"): "integrations:read",
    ("GET", "/api/v1/webhooks"): "integrations:read",
    ("POST", "/api/v1/webhooks"): "integrations:write",
    ("GET", "/api/v1/webhooks/{subscription_id}"): "integrations:read",
    ("PATCH", "/api/v1/webhooks/{subscription_id}"): "integrations:write",
    ("DELETE", "/api/v1/webhooks/{subscription_id}"): "integrations:write",
    ("POST", "/api/v1/webhooks/{subscription_id}/disable"): "integrations:write",
    ("POST", "/api/v1/webhooks/{subscription_id}/enable"): "integrations:write",
    ("POST", "/api/v1/webhooks/{subscription_id}/rotate-secret"): "integrations:write",
    ("POST", "/api/v1/webhooks/{subscription_id}/test"): "integrations:write",
    ("GET", "/api/v1/webhooks/{subscription_id}/deliveries"): "integrations:read",
    ("POST", "/api/v1/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver"): (
        "integrations:write"
    ),
    ("GET", "/admin/webhooks"): "integrations:read",
    ("GET", "/admin/webhooks/new"): "integrations:write",
    ("POST", "/admin/webhooks/new"): "integrations:write",
    ("GET", "/admin/webhooks/{subscription_id}"): "integrations:read",
    ("POST", "/admin/webhooks/{subscription_id}/edit"): "integrations:write",
    ("POST", "/admin/webhooks/{subscription_id}/test"): "integrations:write",
    ("POST", "/admin/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver"): (
        "integrations:write"
    ),
    ("POST", "/admin/webhooks/{subscription_id}/disable"): "integrations:write",
    ("POST", "/admin/webhooks/{subscription_id}/enable"): "integrations:write",
    ("POST", "/admin/webhooks/{subscription_id}/rotate-secret"): "integrations:write",
    ("GET", "/admin/webhooks/{subscription_id}/delete"): "integrations:write",
    ("POST", "/admin/webhooks/{subscription_id}/delete"): "integrations:write",
    ("GET", "/api/v1/reports/customers"): "reports:read",
    ("GET", "/api/v1/reports/customers.csv"): "reports:read",
    ("GET", "/api/v1/reports/cohorts"): "reports:read",
    ("GET", "/api/v1/reports/cohorts.csv"): "reports:read",
    ("GET", "/api/v1/reports/staff"): "reports:read",
    ("GET", "/api/v1/reports/staff.csv"): "reports:read",
    ("GET", "/reports/customers"): "reports:read",
    ("GET", "/reports/cohorts"): "reports:read",
    ("GET", "/reports/staff"): "reports:read",
    ("GET", "/customers"): "customers:read",
    ("GET", "/customers/export.csv"): "customers:export",
    ("GET", "/customers/export.xlsx"): "customers:export",
    ("POST", "/customers/views"): "customers:read",
    ("POST", "/customers/views/{view_id}/delete"): "customers:read",
    ("POST", "/customers/bulk"): "customers:read",
    ("POST", "/customers/bulk/apply"): "customers:write",
    ("GET", "/customers/new"): "customers:write",
    ("POST", "/customers/new"): "customers:write",
    ("GET", "/customers/{customer_id}"): "customers:read",
    ("GET", "/customers/{customer_id}/fields"): "customers:read",
    ("POST", "/customers/{customer_id}/fields"): "customers:write",
    ("POST", "/customers/{customer_id}/consents"): "customers:write",
    ("POST", "/customers/{customer_id}/contacts"): "customers:write",
    ("POST", "/customers/{customer_id}/contacts/{contact_id}/delete"): "customers:write",
    ("POST", "/customers/{customer_id}/addresses"): "customers:write",
    ("POST", "/customers/{customer_id}/addresses/{address_id}"): "customers:write",
    ("POST", "/customers/{customer_id}/addresses/{address_id}/default"): "customers:write",
    ("POST", "/customers/{customer_id}/addresses/{address_id}/delete"): "customers:write",
    ("GET", "/customers/{customer_id}/timeline"): "customers:read+interactions:read",
    ("POST", "/customers/{customer_id}/notes"): "customers:read+interactions:write",
    ("POST", "/customers/{customer_id}/activities"): "customers:read+interactions:write",
    ("POST", "/customers/{customer_id}/timeline/{entry_id}/pin"): (
        "customers:read+interactions:write"
    ),
    ("POST", "/customers/{customer_id}/timeline/{entry_id}/edit"): (
        "customers:read+interactions:write"
    ),
    ("POST", "/customers/{customer_id}/timeline/{entry_id}/delete"): (
        "customers:read+interactions:write"
    ),
    ("POST", "/customers/{customer_id}/attachments"): "customers:read+interactions:write",
    ("GET", "/api/v1/reports/sales"): "reports:read",
    ("GET", "/api/v1/reports/sales.csv"): "reports:read",
    ("GET", "/api/v1/reports/products"): "reports:read",
    ("GET", "/api/v1/reports/products.csv"): "reports:read",
    ("GET", "/reports"): "reports:read",
    ("GET", "/reports/products"): "reports:read",
}


def all_routes() -> set[tuple[str, str]]:
    routes = set()
    for router in api_routers() + panel_routers() + ops_routers():
        for route in router.routes:
            for method in getattr(route, "methods", set()) - {"HEAD"}:
                routes.add((method, route.path))  # type: ignore[attr-defined]
    return routes


def test_every_route_has_a_permission_rule() -> None:
    routes = all_routes()
    assert routes - set(RULES) == set(), "add these routes to RULES"
    assert set(RULES) - routes == set(), "these rules name routes that no longer exist"


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    # any other record id: a random one (the rule is checked before the record is looked up)
    return re.sub(r"\{[a-z_]+_id\}", lambda _: str(uuid.uuid4()), path)


def _holds(rule: str, scopes: frozenset[str]) -> bool:
    """A rule names one scope, or several joined by ``+`` that are all needed."""
    return all(scope in scopes for scope in rule.split("+"))


@pytest.mark.parametrize("role", BUILTIN_ROLE_NAMES)
async def test_each_role_reaches_exactly_what_its_scopes_allow(
    role: str,
    client: httpx2.AsyncClient,
    make_user: MakeUser,
    make_key: MakeKey,
    db: AsyncSession,
) -> None:
    person = await make_user(role)
    scopes = (await principal_for(db, person.user)).scopes
    key = await make_key(person)
    target = await make_user("analyst")
    values = {
        "user_id": str(target.user.id),
        "name": "marketing",
        "key_id": str(uuid.uuid4()),
        "job_id": "999999",
        "session_id": str(uuid.uuid4()),
        "message_id": str(uuid.uuid4()),
        "token": "not-a-real-token",
        "action": "unlock",
        "channel": "email",
        **{name: str(uuid.uuid4()) for name in SHOP_IDS},
        "external_id": "cart-1",
    }
    await sign_in(client, person)
    token = await form_token(client)
    checked = 0
    for (method, template), rule in sorted(RULES.items()):
        if rule == PUBLIC:
            continue
        path = _fill(template, values)
        if path.startswith("/api/"):
            response = await client.request(
                method,
                path,
                headers=bearer(key),
                json={} if method in ("POST", "PATCH", "PUT") else None,
            )
        else:
            data = {"csrf_token": token} if method == "POST" else None
            response = await client.request(method, path, data=data)
        allowed = rule == SIGNED or _holds(rule, scopes)
        if allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
        checked += 1
    assert checked > 40


async def test_signed_out_callers_are_refused_everything_but_public_routes(
    client: httpx2.AsyncClient,
) -> None:
    values = {k: str(uuid.uuid4()) for k in ("user_id", "key_id", "session_id", "message_id")}
    values.update(
        {"name": "sales", "job_id": "1", "action": "unlock", "token": "x", "channel": "email"}
    )
    values.update({name: str(uuid.uuid4()) for name in SHOP_IDS} | {"external_id": "cart-1"})
    for (method, template), rule in sorted(RULES.items()):
        if rule == PUBLIC:
            continue
        path = _fill(template, values)
        response = await client.request(method, path)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
        elif method == "GET":
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/login?next=")
        else:
            # no session and no CSRF cookie: refused before anything runs
            assert response.status_code == 403, (method, path)
