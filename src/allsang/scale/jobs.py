"""``scale.noop``: a job that does nothing, so ``allsang bench scale`` measures the queue itself
(claim, lease, heartbeat, settle). The worker imports this module like every area's jobs."""

from __future__ import annotations

from typing import Any

from allsang.jobs import JobContext, handler

NOOP = "scale.noop"


@handler(NOOP)
async def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
    return None
