"""Creating jobs in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Job
from allsang.db.types import utcnow
from allsang.jobs.claim import insert_job


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    max_attempts: int = 8,
    workspace_id: int | None = None,
) -> int | None:
    """Add a job to the caller's transaction and return its id.

    The job exists if and only if the caller's transaction commits, so "post approved" and
    "publish job queued" cannot disagree. Call it inside ``db.write()``. ``payload`` must be
    JSON-serialisable; ``run_at`` (timezone-aware, default now) is the earliest start.

    With an ``idempotency_key`` that a job already has, nothing is added and ``None`` is
    returned; keys are remembered as long as the job row exists (done jobs are purged after
    their retention period).
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if run_at is not None and run_at.tzinfo is None:
        raise ValueError(f"naive run_at {run_at!r}: use a timezone-aware datetime")
    statement = (
        insert_job(session)
        .values(
            kind=kind,
            payload=dict(payload or {}),
            status="queued",
            run_at=run_at or utcnow(),
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            workspace_id=workspace_id,
            attempts=0,
            created_at=utcnow(),
        )
        .returning(Job.id)
    )
    if idempotency_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=[Job.idempotency_key])
    return (await session.execute(statement)).scalar_one_or_none()
