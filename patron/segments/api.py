"""/api/v1/segments: check an expression as it is typed, and preview its members."""

from __future__ import annotations

from fastapi import APIRouter

from patron.db.deps import ReadSession
from patron.kit.schemas import API_PREFIX, COMMON_ERRORS, error_responses
from patron.segments import repository
from patron.segments.ast import to_json
from patron.segments.auth import SegmentPreview, SegmentRead
from patron.segments.builder import annotated, tree_of
from patron.segments.errors import SegmentError
from patron.segments.language import compile_for, compile_text
from patron.segments.schemas import (
    ConvertedOut,
    ExpressionIn,
    MemberOut,
    PreviewOut,
    ProblemOut,
    TreeIn,
    ValidationOut,
)
from patron.segments.text import to_text

router = APIRouter(prefix=f"{API_PREFIX}/segments", tags=["segments"], responses=COMMON_ERRORS)


def problem_of(error: SegmentError) -> ProblemOut:
    return ProblemOut(
        code=error.code,
        message=error.message,
        line=error.line,
        column=error.column,
        expected=error.expected,
        suggestion=error.suggestion,
    )


@router.post(
    "/preview",
    response_model=PreviewOut,
    responses=error_responses(503),
    summary="Count the customers an expression selects and show the first of them",
)
async def preview(body: ExpressionIn, principal: SegmentPreview, db: ReadSession) -> PreviewOut:
    compiled = await compile_for(db, body.expression)
    queries = repository.member_queries(principal, compiled.alternatives)
    found = await repository.preview(db, queries)
    return PreviewOut(
        count=found.count,
        members=[MemberOut.model_validate(member) for member in found.members],
        ast=to_json(compiled.tree),
        text=to_text(compiled.tree),
    )


@router.post(
    "/validate",
    response_model=ValidationOut,
    summary="Check an expression without running it: errors with positions, field names",
)
async def validate(body: ExpressionIn, _: SegmentRead, db: ReadSession) -> ValidationOut:
    catalog = await repository.load_catalog(db)
    try:
        compiled = compile_text(body.expression, catalog)
    except SegmentError as error:
        return ValidationOut(valid=False, errors=[problem_of(error)], fields=catalog.names())
    return ValidationOut(
        valid=True,
        errors=[],
        ast=to_json(compiled.tree),
        text=to_text(compiled.tree),
        fields=catalog.names(),
    )


@router.post(
    "/text",
    response_model=ConvertedOut,
    summary="Turn a builder's tree into canonical text (and a text into a tree)",
)
async def convert(body: TreeIn, _: SegmentRead) -> ConvertedOut:
    """Checks the syntax only (field names are checked by the preview and validation); a
    whole expression sent as one ``text`` condition comes back as its tree."""
    try:
        node = tree_of(body.ast)
    except SegmentError as error:
        return ConvertedOut(valid=False, errors=[problem_of(error)])
    return ConvertedOut(valid=True, errors=[], text=to_text(node), ast=annotated(node))
