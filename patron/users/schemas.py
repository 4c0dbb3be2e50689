"""Users, roles and teams over the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field

from patron.kit.schemas import Input, Schema


class UserOut(Schema):
    id: uuid.UUID
    email: str
    name: str
    kind: Literal["person", "service"]
    role: str
    team_id: uuid.UUID | None
    is_active: bool
    time_zone: str
    two_factor_enabled: bool = Field(validation_alias="totp_enabled")
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class MeOut(UserOut):
    scopes: list[str]
    record_scope: Literal["own", "team", "all"]
    via: Literal["session", "api_key"]


class UserCreate(Input):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=40)
    team_id: uuid.UUID | None = None
    time_zone: str = Field(default="UTC", max_length=64)
    kind: Literal["person", "service"] = Field(
        default="person",
        description="`person` gets an emailed invitation; `service` is for API keys only",
    )


class UserUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: str | None = Field(default=None, min_length=1, max_length=40)
    team_id: uuid.UUID | None = None
    is_active: bool | None = None
    time_zone: str | None = Field(default=None, max_length=64)


class RoleOut(Schema):
    name: str
    label: str
    description: str
    scopes: list[str]
    record_scope: Literal["own", "team", "all"]
    require_2fa: bool
    builtin: bool


class RoleCreate(Input):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,39}$")
    label: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=500)
    scopes: list[str] = Field(max_length=100)
    record_scope: Literal["own", "team", "all"] = "own"
    require_2fa: bool = False


class RoleUpdate(Input):
    label: str | None = Field(default=None, min_length=1, max_length=80)
    description: str | None = Field(default=None, max_length=500)
    scopes: list[str] | None = Field(default=None, max_length=100)
    record_scope: Literal["own", "team", "all"] | None = None
    require_2fa: bool | None = None


class ScopeOut(Schema):
    name: str
    description: str


class TeamOut(Schema):
    id: uuid.UUID
    name: str
    created_at: datetime


class TeamCreate(Input):
    name: str = Field(min_length=1, max_length=80)
