"""Record scoping: the one place that turns a role's own / team / all into SQL.

Later domains call :func:`visible_to` in their repositories, so a sales rep sees only their
own deals and a manager their team's; a record outside the scope is simply not found.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from patron.auth.principal import Principal
from patron.models import StaffUser


def visible_to(
    principal: Principal,
    *,
    owner: InstrumentedAttribute[uuid.UUID | None] | InstrumentedAttribute[uuid.UUID],
) -> ColumnElement[bool]:
    """A WHERE clause keeping the rows whose ``owner`` column the principal may see."""
    scope = principal.record_scope
    if scope == "all":
        return true()
    if scope == "team" and principal.team_id is not None:
        team_members = select(StaffUser.id).where(StaffUser.team_id == principal.team_id)
        return or_(owner == principal.user_id, owner.in_(team_members.scalar_subquery()))
    if scope in ("own", "team"):
        return owner == principal.user_id
    return false()
