"""Who may import what: customers need customers:write, products catalog:write, orders
orders:write. The routes admit anyone holding one of these; each job checks its entity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from patron.auth.dependencies import current_principal
from patron.auth.principal import Principal
from patron.errors import PermissionDenied

ENTITY_SCOPES = {
    "customers": "customers:write",
    "products": "catalog:write",
    "orders": "orders:write",
}


def importable(principal: Principal) -> list[str]:
    """The entities this principal may import."""
    return [entity for entity, scope in ENTITY_SCOPES.items() if principal.has(scope)]


def check_entity(principal: Principal, entity: str) -> None:
    scope = ENTITY_SCOPES[entity]
    if not principal.has(scope):
        raise PermissionDenied(
            f"Importing {entity} needs the {scope} permission.",
            code="missing_scope",
            details=[{"field": "scope", "message": scope}],
        )


async def require_import(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    from patron.auth.dependencies import TwoFactorRequired

    if principal.needs_2fa_enrolment:
        raise TwoFactorRequired("Your role requires two-factor authentication; set it up first.")
    if not importable(principal):
        raise PermissionDenied(
            "Importing needs customers:write, catalog:write or orders:write.",
            code="missing_scope",
            details=[{"field": "scope", "message": scope} for scope in ENTITY_SCOPES.values()],
        )
    return principal


ImportAccess = Annotated[Principal, Depends(require_import)]
