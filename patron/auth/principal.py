"""Who is making a request, and what they may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from patron.audit.service import Actor
from patron.auth.scopes import RECORD_SCOPES, RecordScope
from patron.models import ApiKey, Role, StaffSession, StaffUser


@dataclass(frozen=True)
class Principal:
    user: StaffUser
    role: Role
    scopes: frozenset[str]
    session: StaffSession | None = None
    api_key: ApiKey | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return self.user.id

    @property
    def team_id(self) -> uuid.UUID | None:
        return self.user.team_id

    @property
    def record_scope(self) -> RecordScope:
        for scope in RECORD_SCOPES:
            if scope == self.role.record_scope:
                return scope
        raise ValueError(f"role {self.role.name} has an unknown record scope")

    @property
    def actor(self) -> Actor:
        if self.api_key is not None:
            return Actor("api_key", self.user.id, f"{self.user.email} (key {self.api_key.prefix})")
        return Actor("user", self.user.id, self.user.email)

    @property
    def needs_2fa_enrolment(self) -> bool:
        return self.role.require_2fa and not self.user.totp_enabled and self.user.kind == "person"

    def has(self, *scopes: str) -> bool:
        return all(scope in self.scopes for scope in scopes)
