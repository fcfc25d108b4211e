"""Listening jobs: alert delivery (``listening.alert``) and the hourly trend run
(``listening.trends``). The worker imports this module to register them."""

from __future__ import annotations

from typing import Any

from allsang.jobs import JobContext, cron, handler
from allsang.listening import alerts, watch


@handler(alerts.JOB_KIND)
async def alert_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await alerts.alert_job(ctx, payload)


@handler(watch.JOB_KIND)
async def trends_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await watch.run_all(ctx.runtime)


# A few minutes past the hour, so messages of the finished hour have been ingested.
cron("7 * * * *", watch.JOB_KIND, name="listening.trends")
