"""Inbox jobs: ``inbox.wake`` wakes snoozed conversations whose time has come (every minute).
The worker imports this module to register them."""

from __future__ import annotations

from typing import Any

from allsang.inbox import snooze
from allsang.jobs import JobContext, cron, handler
from allsang.live import open_broadcast


@handler(snooze.JOB_KIND)
async def wake_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    runtime = ctx.runtime
    await snooze.wake(runtime.db, open_broadcast(runtime.settings.broadcast_url))


cron("* * * * *", snooze.JOB_KIND, name="inbox.wake")
