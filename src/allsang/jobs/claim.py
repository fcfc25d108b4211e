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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from allsang.db.models import Job

# Statements use the Core table, not the ORM entity: ORM-enabled UPDATE costs several times
# the CPU per statement, and these statements are most of what a worker does.
JOB: Table = Job.__table__  # type: ignore[assignment]


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
        and_(JOB.c.status == "queued", JOB.c.run_at <= now),
        and_(JOB.c.status == "running", JOB.c.locked_until < now),
    )


async def claim_jobs(
    session: AsyncSession, *, worker_id: str, limit: int, now: datetime, lease: timedelta
) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs (queued and due, or running with an expired lease).

    Each claimed row becomes ``running``, locked by ``worker_id`` until ``now + lease``, with
    ``attempts`` raised by one. Run it in ``db.write()`` and commit before running the jobs.
    """
    candidates = (
        select(JOB.c.id).where(_claimable(now)).order_by(JOB.c.run_at, JOB.c.id).limit(limit)
    )
    if dialect_of(session) == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        update(JOB)
        .where(JOB.c.id.in_(candidates.scalar_subquery()))
        .values(
            status="running",
            locked_by=worker_id,
            locked_until=now + lease,
            attempts=JOB.c.attempts + 1,
        )
        .returning(JOB.c.id, JOB.c.kind, JOB.c.payload, JOB.c.attempts, JOB.c.max_attempts)
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
        update(JOB)
        .where(JOB.c.id.in_(job_ids), JOB.c.locked_by == worker_id, JOB.c.status == "running")
        .values(locked_until=until)
        .returning(JOB.c.id)
    )
    return set((await session.execute(statement)).scalars())


async def settle(
    session: AsyncSession, *, worker_id: str, attempts: Sequence[tuple[int, int]], **values: Any
) -> set[int]:
    """Write the outcome of attempts ``(job id, attempt)`` where this worker still holds that
    attempt's lease; return the ids written and release their leases.

    Comparing ``locked_by`` and ``attempts`` means a worker whose lease expired and was taken
    over (by another worker, or by itself in a later claim) cannot overwrite the new owner's
    state. One call may settle many jobs with the same ``values`` (a batch of done jobs).
    """
    if not attempts:
        return set()
    statement = (
        update(JOB)
        .where(
            tuple_(JOB.c.id, JOB.c.attempts).in_(list(attempts)),
            JOB.c.status == "running",
            JOB.c.locked_by == worker_id,
        )
        .values(locked_by=None, locked_until=None, **values)
        .returning(JOB.c.id)
    )
    return set((await session.execute(statement)).scalars())
