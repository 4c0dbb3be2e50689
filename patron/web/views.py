"""The home dashboard and the API documentation page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from patron.auth.dependencies import Authenticated
from patron.db.deps import DbSession
from patron.web import dashboard
from patron.web.templating import render

router = APIRouter()


@router.get("/")
async def home(request: Request, principal: Authenticated, db: DbSession) -> Response:
    context = await dashboard.build(db, principal)
    return render(request, "home.html", context)


@router.get("/api/docs")
async def api_docs(request: Request) -> Response:
    return render(request, "api_docs.html")
