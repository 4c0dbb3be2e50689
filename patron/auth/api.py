"""/api/v1/api-keys: create, list and revoke API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from patron.auth import apikeys
from patron.auth.dependencies import Authenticated
from patron.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from patron.db.deps import DbSession
from patron.errors import PermissionDenied
from patron.kit.pagination import Page, PageParams, page_params
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.users import repository as users_repository
from patron.users import service as users_service

router = APIRouter(prefix=API_PREFIX, tags=["api keys"], responses=COMMON_ERRORS)


@router.get("/api-keys", response_model=Page[ApiKeyOut], summary="List API keys")
async def list_keys(
    principal: Authenticated,
    db: DbSession,
    page: Annotated[PageParams, Depends(page_params)],
    all_users: Annotated[
        bool, Query(alias="all", description="Every user's keys (admins)")
    ] = False,
) -> Page[ApiKeyOut]:
    if all_users and not principal.has("settings:admin"):
        raise PermissionDenied("Only administrators list every key.", code="missing_scope")
    keys, cursor = await users_repository.list_api_keys(
        db, page, owner=None if all_users else principal.user_id
    )
    return Page(items=[ApiKeyOut.model_validate(k) for k in keys], next_cursor=cursor)


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (its secret is returned once)",
    responses=error_responses(404),
)
async def create_key(body: ApiKeyCreate, principal: Authenticated, db: DbSession) -> ApiKeyCreated:
    owner = await users_service.get_user(db, body.user_id) if body.user_id else None
    created = await apikeys.create_key(
        db, principal, name=body.name, scopes=body.scopes, owner=owner, expires_at=body.expires_at
    )
    return ApiKeyCreated(
        **ApiKeyOut.model_validate(created.key).model_dump(), secret=created.secret
    )


@router.get("/api-keys/{key_id}", response_model=ApiKeyOut, responses=error_responses(404))
async def get_key(key_id: uuid.UUID, principal: Authenticated, db: DbSession) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await apikeys.get_visible_key(db, principal, key_id))


@router.delete(
    "/api-keys/{key_id}",
    response_model=ApiKeyOut,
    responses=error_responses(404),
    summary="Revoke an API key (it stops working at once)",
)
async def revoke_key(key_id: uuid.UUID, principal: Authenticated, db: DbSession) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await apikeys.revoke_key(db, principal, key_id))
