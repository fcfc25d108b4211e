"""Continuity jobs: an absence's start and end (``continuity.absence``), the quarter-hourly
sweep that catches any absence whose job was lost (``continuity.sweep``) and the hourly
bus-factor check (``continuity.busfactor``). The worker imports this module to register them.
"""

from __future__ import annotations

from typing import Any

from allsang.continuity import absence, busfactor, service
from allsang.jobs import JobContext, cron, handler

SWEEP = "continuity.sweep"


@handler(absence.JOB_KIND)
async def absence_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.advance(ctx.runtime, int(payload["absence_id"]))


@handler(SWEEP)
async def sweep_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.sweep(ctx.runtime)


cron("*/15 * * * *", SWEEP, name=SWEEP)


@handler(busfactor.JOB_KIND)
async def bus_factor_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.check_bus_factor(ctx.runtime)


cron("41 * * * *", busfactor.JOB_KIND, name=busfactor.JOB_KIND)
