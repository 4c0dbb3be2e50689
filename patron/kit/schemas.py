"""Schemas shared by every domain's API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True, validate_by_name=True, validate_by_alias=True)


class Input(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorDetail(BaseModel):
    field: str = ""
    message: str
    type: str = ""


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable, machine-readable error code")
    message: str = Field(description="What went wrong, for people")
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorInfo


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the error format for these statuses."""
    descriptions = {
        400: "Malformed request (for example, invalid JSON)",
        401: "Missing, invalid, revoked or expired credentials",
        403: "Authenticated, but lacking a permission",
        404: "No such record, or not visible to you",
        409: "Conflicts with the current state",
        410: "Gone (an expired or used link)",
        413: "Request body too large",
        422: "Validation failed",
        429: "Too many requests; see Retry-After",
    }
    return {
        status: {"model": ErrorResponse, "description": descriptions.get(status, "Error")}
        for status in statuses
    }


COMMON_ERRORS = error_responses(400, 401, 403, 413, 422, 429)
API_PREFIX = "/api/v1"
