"""The RFM page: a 5 x 5 grid of recency by frequency, the groups, and "Score now"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from patron.analytics import rfm
from patron.analytics.auth import ReportRead
from patron.analytics.rfm_tasks import score_rfm
from patron.audit.service import record
from patron.auth.dependencies import require
from patron.auth.principal import Principal
from patron.db.deps import DbSession, ReadSession
from patron.models import RfmCutPoints
from patron.web.templating import redirect, render
from patron.worker.enqueue import enqueue

router = APIRouter(prefix="/reports")
PAGE = "/reports/rfm"
RfmScorer = Annotated[Principal, Depends(require("reports:read", "settings:admin"))]


@dataclass(frozen=True)
class Quintile:
    """What one score means under the cut points in force (``low`` excluded, ``high``
    included); ``None`` when ties left no value for this score."""

    score: int
    low: object | None
    high: object | None
    empty: bool = False


def quintiles(cuts: list[object] | None, *, lower_is_better: bool = False) -> list[Quintile]:
    """The five value ranges of a measure, best score first."""
    if not cuts:
        return []
    bounds = [None, *cuts, None]
    ranges = []
    for index in range(5):
        low, high = bounds[index], bounds[index + 1]
        empty = low is not None and high is not None and low == high
        score = 5 - index if lower_is_better else index + 1
        ranges.append(Quintile(score, low, high, empty))
    return sorted(ranges, key=lambda q: -q.score)


def _meanings(cuts: RfmCutPoints | None) -> dict[str, list[Quintile]]:
    if cuts is None:
        return {}
    return {
        "recency": quintiles(list(cuts.recency_days or []), lower_is_better=True),
        "frequency": quintiles(list(cuts.orders_count or [])),
        "monetary": quintiles(list(cuts.monetary or [])),
    }


@router.get("/rfm")
async def rfm_page(request: Request, principal: ReportRead, db: ReadSession) -> Response:
    grid = await rfm.grid(db, principal)
    return render(
        request,
        "reports/rfm.html",
        {
            "grid": grid,
            "scores": rfm.SCORES,
            "groups": rfm.GROUPS,
            "group_of": rfm.group_of,
            "meanings": _meanings(grid.cut_points),
            "can_score": principal.has("settings:admin"),
        },
    )


@router.post("/rfm/score")
async def score_now(request: Request, principal: RfmScorer, db: DbSession) -> Response:
    job_id = await enqueue(db, score_rfm)  # a run already waiting is not queued twice
    await record(
        db,
        action="rfm.score_requested",
        actor=principal.actor,
        object_type="job",
        object_id=job_id,
    )
    return redirect(
        request,
        PAGE,
        flash="Scoring every customer now; refresh this page in a minute.",
        category="info",
    )
