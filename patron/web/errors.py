"""Error pages for the panel, and the redirects some errors call for."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from patron.web.templating import redirect, render

TITLES = {
    400: "That request did not work",
    401: "Please sign in",
    403: "You can't do that",
    404: "Page not found",
    405: "Not allowed here",
    410: "This link no longer works",
    413: "That is too large",
    422: "Please check what you entered",
    429: "Slow down a little",
    500: "Something went wrong",
}


async def render_error_page(request: Request, status: int, code: str, message: str) -> Response:
    htmx = request.headers.get("HX-Request") == "true"
    if status == 401 or code == "two_factor_enrolment_required":
        target = (
            "/account/2fa/setup"
            if status == 403
            else "/login?next="
            + quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/"
            )
        )
        if htmx:
            return Response(status_code=204, headers={"HX-Redirect": target})
        return redirect(request, target)
    return render(
        request,
        "errors/error.html",
        {
            "status": status,
            "code": code,
            "message": message,
            "title": TITLES.get(status, "Something went wrong"),
        },
        status_code=status,
    )
