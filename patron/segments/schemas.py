"""Request and response bodies of the segment API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_serializer

from patron.kit.schemas import Input, Schema

# longer than the language allows, so an over-long expression gets the language's own
# "too_complex" error rather than a generic validation error
MAX_BODY_EXPRESSION = 100_000


class ExpressionIn(Input):
    expression: str = Field(max_length=MAX_BODY_EXPRESSION, examples=["orders_count >= 2"])


class MemberOut(Schema):
    id: uuid.UUID
    name: str
    email: str | None
    lifecycle: str
    total_spent: Decimal

    @field_serializer("total_spent")
    def _money(self, value: Decimal) -> str:
        return f"{value:.2f}"


class PreviewOut(Schema):
    count: int = Field(description="How many customers you may see are in the segment")
    members: list[MemberOut] = Field(description="The first members, oldest customers first")
    ast: dict[str, Any] = Field(description="The expression's tree, as the visual builder uses it")
    text: str = Field(description="The expression in canonical form")


class ProblemOut(Schema):
    code: str
    message: str
    line: int | None = None
    column: int | None = None
    expected: list[str] = Field(default_factory=list)
    suggestion: str | None = None


class ValidationOut(Schema):
    valid: bool
    errors: list[ProblemOut]
    ast: dict[str, Any] | None = None
    text: str | None = None
    fields: list[str] = Field(description="Every field name an expression may use")


class TreeIn(Input):
    ast: dict[str, Any] = Field(
        description="The tree as the builder holds it; any condition may instead be "
        '{"type": "text", "text": "..."}, a condition written in the language',
        examples=[{"type": "and", "items": [{"type": "text", "text": "orders_count >= 2"}]}],
    )


class ConvertedOut(Schema):
    valid: bool
    errors: list[ProblemOut]
    text: str | None = Field(default=None, description="The expression in canonical form")
    ast: dict[str, Any] | None = Field(
        default=None, description="The tree; every condition carries its canonical `text`"
    )


class SegmentIn(Input):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    kind: Literal["dynamic", "static"] = "dynamic"
    expression: str | None = Field(
        default=None,
        max_length=MAX_BODY_EXPRESSION,
        description="Dynamic: the segment. Static: whose current members make the list",
    )
    customer_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=10_000, description="Static: customers to put in"
    )


class SegmentOut(Schema):
    id: uuid.UUID
    name: str
    description: str
    kind: str
    expression: str
    ast: dict[str, Any] | None
    created_by_id: uuid.UUID | None
    member_count: int
    refreshed_at: datetime | None
    created_at: datetime


class MembersIn(Input):
    add: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)
    remove: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)


class ChangedOut(Schema):
    size: int
    entered: int
    exited: int


class SegmentMemberOut(Schema):
    id: uuid.UUID
    name: str
    email: str | None
    lifecycle: str = Field(validation_alias="lifecycle_stage")


class SizeOut(Schema):
    size: int
    entered: int
    exited: int
    recorded_at: datetime
