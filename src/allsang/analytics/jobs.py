"""Analytics jobs: the refresh of the aggregates (``analytics.refresh``, after each ingest
commit and every minute) and the scheduled e-mail reports (``analytics.reports``, hourly).
The worker imports this module to register them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from allsang.analytics import aggregate, reports
from allsang.db.models import Workspace
from allsang.jobs import JobContext, cron, handler


@handler(aggregate.JOB_KIND)
async def refresh_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Refresh one workspace (``workspace_id`` in the payload) or, from cron, all of them."""
    if "workspace_id" in payload:
        ids = [int(payload["workspace_id"])]
    else:
        async with ctx.runtime.db.read() as session:
            ids = list(await session.scalars(select(Workspace.id).order_by(Workspace.id)))
    for workspace_id in ids:
        await aggregate.refresh(ctx.runtime.db, workspace_id)


@handler(reports.JOB_KIND)
async def reports_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await reports.send_due_reports(ctx.runtime)


# The refresh after each ingest commit keeps the figures fresh; this one catches what no
# commit announced (replies, status changes, a commit hook lost with its process).
cron("* * * * *", aggregate.JOB_KIND, name="analytics.refresh")
# Hourly, so each workspace's week or month is sent soon after it ends in its own time zone.
cron("23 * * * *", reports.JOB_KIND, name="analytics.reports")
