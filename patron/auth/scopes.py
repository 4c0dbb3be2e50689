"""Permission scopes and the built-in roles made of them.

A role is a set of scopes plus a record scope (own / team / all) that decides which
records of a domain its holders see; see :mod:`patron.auth.scoping`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RecordScope = Literal["own", "team", "all"]
RECORD_SCOPES: tuple[RecordScope, ...] = ("own", "team", "all")

SCOPES: dict[str, str] = {
    "customers:read": "See customers, their profiles and history",
    "customers:write": "Create and change customers",
    "customers:export": "Export customer data (CSV, GDPR export)",
    "customers:erase": "Erase customers (GDPR)",
    "orders:read": "See orders and returns",
    "orders:write": "Create and change orders and returns",
    "catalog:read": "See products and categories",
    "catalog:write": "Change products and categories",
    "interactions:read": "See emails, chats, tickets and notes",
    "interactions:write": "Write notes, answer chats and tickets",
    "deals:read": "See leads and deals",
    "deals:write": "Create and change leads and deals",
    "tasks:read": "See tasks and reminders",
    "tasks:write": "Create and change tasks and reminders",
    "segments:read": "See segments",
    "segments:write": "Create and change segments",
    "marketing:read": "See campaigns, coupons, loyalty and flows",
    "marketing:write": "Send campaigns, manage coupons, loyalty and flows",
    "reports:read": "See reports, dashboards and predictions",
    "integrations:read": "See store integrations and webhooks",
    "integrations:write": "Connect stores and manage webhooks",
    "events:write": "Send tracking events from a storefront",
    "users:read": "See the staff directory",
    "settings:admin": "Manage users, roles, API keys, jobs and settings",
    "audit:read": "Read the audit log",
}

ALL_SCOPES: frozenset[str] = frozenset(SCOPES)


@dataclass(frozen=True)
class BuiltinRole:
    name: str
    label: str
    description: str
    scopes: frozenset[str]
    record_scope: RecordScope


def _pick(*prefixes: str, writes: bool = True) -> frozenset[str]:
    return frozenset(
        scope
        for scope in SCOPES
        if scope.split(":")[0] in prefixes and (writes or scope.endswith(":read"))
    )


READ_ONLY = frozenset(s for s in SCOPES if s.endswith(":read") and s != "audit:read")

BUILTIN_ROLES: tuple[BuiltinRole, ...] = (
    BuiltinRole(
        "admin",
        "Administrator",
        "Everything, including users, roles and settings.",
        ALL_SCOPES,
        "all",
    ),
    BuiltinRole(
        "manager",
        "Manager",
        "Runs a team: all customer work, reports and the audit log.",
        ALL_SCOPES - {"settings:admin", "customers:erase", "integrations:write"},
        "team",
    ),
    BuiltinRole(
        "sales",
        "Sales rep",
        "Works their own leads, deals, customers and tasks.",
        _pick("customers", "orders", "deals", "tasks", "interactions")
        - {"customers:export", "customers:erase", "orders:write"}
        | {"catalog:read", "users:read", "segments:read"},
        "own",
    ),
    BuiltinRole(
        "support",
        "Support agent",
        "Answers customers: tickets, chats, orders, returns.",
        _pick("customers", "orders", "interactions", "tasks")
        - {"customers:export", "customers:erase"}
        | {"catalog:read", "users:read", "deals:read"},
        "all",
    ),
    BuiltinRole(
        "marketing",
        "Marketer",
        "Segments, campaigns, coupons, loyalty and flows.",
        _pick("segments", "marketing")
        | {
            "customers:read",
            "customers:export",
            "orders:read",
            "catalog:read",
            "reports:read",
            "users:read",
            "interactions:read",
            "events:write",
        },
        "all",
    ),
    BuiltinRole(
        "analyst", "Analyst", "Reads everything a report needs; changes nothing.", READ_ONLY, "all"
    ),
)

BUILTIN_ROLE_NAMES = tuple(role.name for role in BUILTIN_ROLES)
