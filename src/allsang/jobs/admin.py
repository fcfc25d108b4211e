"""Queries and actions for the jobs admin page, and the retention of finished jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Job
from allsang.db.types import utcnow
from allsang.jobs.registry import JobContext, Registry, cron, default_registry, handler

STATUSES = ("queued", "running", "done", "dead")

# A queued job this far past its run_at means no worker is taking jobs (or they cannot keep
# up): the number behind a stuck-queue alarm.
OVERDUE_AFTER = timedelta(minutes=1)

DONE_RETENTION_DAYS = 14
PURGE_BATCH = 5000


async def job_counts(session: AsyncSession) -> dict[str, int]:
    """Jobs per status (queued, running, done, dead), plus ``due`` (queued with run_at now or
    earlier) and ``overdue`` (queued with run_at more than a minute ago)."""
    now = utcnow()
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: count for status, count in rows.all()})
    queued = select(func.count()).select_from(Job).where(Job.status == "queued")
    counts["due"] = (await session.execute(queued.where(Job.run_at <= now))).scalar_one()
    counts["overdue"] = (
        await session.execute(queued.where(Job.run_at < now - OVERDUE_AFTER))
    ).scalar_one()
    return counts


async def list_jobs(
    session: AsyncSession, *, status: str | None, limit: int, offset: int
) -> list[Job]:
    """Jobs newest first, optionally only those with ``status``."""
    query = select(Job).order_by(Job.id.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Job.status == status)
    return list((await session.execute(query)).scalars())


async def retry_job(session: AsyncSession, job_id: int) -> bool:
    """Put a dead job back in the queue, due now, with its attempts reset to zero.

    Returns False when the job does not exist or is not dead. ``last_error`` is kept until the
    next attempt so the page can still show why it died.
    """
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "dead")
        .values(status="queued", attempts=0, run_at=utcnow(), finished_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def purge_done(
    session: AsyncSession,
    older_than: timedelta,
    *,
    limit: int | None = None,
    registry: Registry = default_registry,
) -> int:
    """Delete done jobs finished more than ``older_than`` ago (at most ``limit``); return how
    many. Dead jobs stay until retried or handled by hand.

    The job of each schedule's latest slot is kept whatever its age: the cron scheduler would
    otherwise enqueue that slot again (schedules rarer than the retention period).
    """
    cutoff = utcnow() - older_than
    now = utcnow()
    current_slots = [s.idempotency_key(s.latest_slot(now)) for s in registry.schedules.values()]
    doomed = select(Job.id).where(
        Job.status == "done",
        Job.finished_at < cutoff,
        Job.idempotency_key.is_(None) | Job.idempotency_key.not_in(current_slots),
    )
    if limit is not None:
        doomed = doomed.order_by(Job.id).limit(limit)
    result = await session.execute(
        delete(Job)
        .where(Job.id.in_(doomed.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@handler("jobs.purge_done")
async def purge_done_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Retention: delete old done jobs in batches, so no single transaction holds the write
    lock for long."""
    older_than = timedelta(days=payload.get("older_than_days", DONE_RETENTION_DAYS))
    while True:
        async with ctx.runtime.db.write() as session:
            deleted = await purge_done(session, older_than, limit=PURGE_BATCH)
        if deleted < PURGE_BATCH:
            return


cron(
    "17 3 * * *",
    "jobs.purge_done",
    {"older_than_days": DONE_RETENTION_DAYS},
    name="purge-done-jobs",
)
