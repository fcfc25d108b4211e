"""Publishing jobs: one delivery (``publishing.deliver``), the dead-man alarm
(``publishing.watchdog``, every minute), the daily extension of recurring posts
(``publishing.recurrences``) and the hourly read of engagement (``publishing.engagement``).
The worker imports this module to register them, and the handover providers of
:mod:`allsang.publishing.handover` with them."""

from __future__ import annotations

from typing import Any

from allsang.jobs import JobContext, cron, handler
from allsang.publishing import engagement, engine, handover, service, watchdog  # noqa: F401


@handler(service.DELIVER_JOB)
async def deliver_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    # RetryLater propagates: the worker retries the job with backoff.
    await engine.deliver(ctx.runtime, int(payload["delivery_id"]), last_attempt=ctx.is_last_attempt)


@handler("publishing.watchdog")
async def watchdog_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await watchdog.check(ctx.runtime)


@handler("publishing.recurrences")
async def recurrences_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.runtime.db.write() as session:
        await service.extend_recurrences(session)


@handler(engagement.JOB_KIND)
async def engagement_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await engagement.refresh(ctx.runtime)


cron("* * * * *", "publishing.watchdog", name="publishing.watchdog")
cron("41 * * * *", engagement.JOB_KIND, name=engagement.JOB_KIND)
cron("23 2 * * *", "publishing.recurrences", name="publishing.recurrences")
