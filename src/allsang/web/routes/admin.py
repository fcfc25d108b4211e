"""Administration: the audit log and the jobs queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from starlette.responses import Response

from allsang import audit, i18n
from allsang.db.models import AuditEvent
from allsang.jobs.admin import STATUSES, job_counts, list_jobs, retry_job
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/admin")

PAGE_SIZE = 50


@router.get("/audit")
async def audit_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("audit.view"))],
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    async with runtime_of(request).db.read() as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.workspace_id == viewer.actor.workspace_id)
            .order_by(AuditEvent.id.desc())
            .limit(PAGE_SIZE + 1)
            .offset((page - 1) * PAGE_SIZE)
        )
        events = list(rows)
    return render(
        request,
        "audit.html",
        {
            "events": events[:PAGE_SIZE],
            "page": page,
            "has_next": len(events) > PAGE_SIZE,
            "section": "admin",
        },
    )


@router.get("/jobs")
async def jobs_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("jobs.view"))],
    status: str | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    if status not in (None, "", *STATUSES):
        raise PageError(404, i18n.gettext("There is no such job status."))
    async with runtime_of(request).db.read() as session:
        counts = await job_counts(session)
        jobs = await list_jobs(
            session, status=status or None, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "jobs.html",
        {
            "counts": counts,
            "total": sum(counts[name] for name in STATUSES),
            "jobs": jobs[:PAGE_SIZE],
            "status": status or "",
            "statuses": STATUSES,
            "page": page,
            "has_next": len(jobs) > PAGE_SIZE,
            "section": "admin",
        },
    )


@router.post("/jobs/{job_id}/retry")
async def retry(
    request: Request,
    job_id: int,
    viewer: Annotated[Viewer, Depends(require("jobs.manage"))],
) -> Response:
    async with runtime_of(request).db.write() as session:
        retried = await retry_job(session, job_id)
        if retried:
            audit.record(session, viewer.actor, "job.retry", "job", job_id, ip=client_ip(request))
    if not retried:
        raise PageError(409, i18n.gettext("Only a dead job can be retried."))
    return redirect("/admin/jobs?status=dead", ok="retried")
