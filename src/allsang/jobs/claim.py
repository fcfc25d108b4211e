"""The SQL of the Jobs port: insert-unless-duplicate, leased claims and guarded completion.

This is the only module of the package that knows which engine it talks to. PostgreSQL
claims with ``FOR UPDATE SKIP LOCKED`` so concurrent workers pass over each other's rows;
SQLite needs nothing extra because ``Database.write()`` starts with ``BEGIN IMMEDIATE``, which
serialises writers across processes.

Instants come from the caller's clock (not the database's), so tests can move time and both
engines behave alike; hosts running workers need synchronised clocks (NTP), with skew far
below the lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from allsang.db.models import Job


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int


def dialect_of(session: AsyncSession) -> str:
    bind = session.bind
    if bind is None:
        raise RuntimeError("the session is not bound to a database")
    return bind.dialect.name


def insert_job(session: AsyncSession) -> Insert:
    """``INSERT INTO job`` in the session's dialect, so ``on_conflict_do_nothing`` exists."""
    dialect = dialect_of(session)
    if dialect == "postgresql":
        return postgresql.insert(Job)
    if dialect == "sqlite":
        return sqlite.insert(Job)
    raise RuntimeError(f"the Jobs port does not support the {dialect} dialect")


def _claimable(now: datetime) -> Any:
    return or_(
        and_(Job.status == "queued", Job.run_at <= now),
        and_(Job.status == "running", Job.locked_until < now),
    )


async def claim_jobs(
    session: AsyncSession, *, worker_id: str, limit: int, now: datetime, lease: timedelta
) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs (queued and due, or running with an expired lease).

    Each claimed row becomes ``running``, locked by ``worker_id`` until ``now + lease``, with
    ``attempts`` raised by one. Run it in ``db.write()`` and commit before running the jobs.
    """
    candidates = select(Job.id).where(_claimable(now)).order_by(Job.run_at, Job.id).limit(limit)
    if dialect_of(session) == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        update(Job)
        .where(Job.id.in_(candidates.scalar_subquery()))
        .values(
            status="running",
            locked_by=worker_id,
            locked_until=now + lease,
            attempts=Job.attempts + 1,
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts)
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(statement)).all()
    jobs = [ClaimedJob(r.id, r.kind, r.payload or {}, r.attempts, r.max_attempts) for r in rows]
    return sorted(jobs, key=lambda job: job.id)


async def extend_leases(
    session: AsyncSession, *, worker_id: str, job_ids: list[int], until: datetime
) -> set[int]:
    """Push the lease of jobs this worker still holds to ``until``; return those ids.

    An id missing from the result was taken over by another worker after its lease expired.
    """
    if not job_ids:
        return set()
    statement = (
        update(Job)
        .where(Job.id.in_(job_ids), Job.locked_by == worker_id, Job.status == "running")
        .values(locked_until=until)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return set((await session.execute(statement)).scalars())


async def settle(
    session: AsyncSession, *, job_id: int, worker_id: str, attempt: int, **values: Any
) -> bool:
    """Write the outcome of one attempt, only if this worker still holds that attempt's lease.

    Comparing ``locked_by`` and ``attempts`` means a worker whose lease expired and was taken
    over (by another worker, or by itself in a later claim) cannot overwrite the new owner's
    state. Returns whether the row was written.
    """
    statement = (
        update(Job)
        .where(
            Job.id == job_id,
            Job.status == "running",
            Job.locked_by == worker_id,
            Job.attempts == attempt,
        )
        .values(locked_by=None, locked_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]
