"""The nightly retention run (``privacy.retention``). The worker imports this module."""

from __future__ import annotations

from typing import Any

from allsang.jobs import JobContext, cron, handler
from allsang.privacy.retention import apply_all

JOB_KIND = "privacy.retention"


@handler(JOB_KIND)
async def retention_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await apply_all(ctx.runtime.db)


# At night, when deleting in batches competes with nobody.
cron("40 2 * * *", JOB_KIND, name=JOB_KIND)
