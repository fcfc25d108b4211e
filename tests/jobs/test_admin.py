from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from allsang.db import Database
from allsang.db.models import Job
from allsang.db.types import utcnow
from allsang.jobs import (
    Registry,
    default_registry,
    enqueue,
    job_counts,
    list_jobs,
    purge_done,
    retry_job,
)
from tests.jobs.helpers import load_job


async def _job(db: Database, status: str = "queued", **values: Any) -> int:
    async with db.write() as session:
        job_id = await enqueue(session, "report", run_at=values.pop("run_at", None))
        assert job_id is not None
        await session.execute(update(Job).where(Job.id == job_id).values(status=status, **values))
    return job_id


async def test_job_counts_per_status_with_due_and_overdue(db: Database) -> None:
    now = utcnow()
    await _job(db, run_at=now - timedelta(minutes=5))
    await _job(db, run_at=now - timedelta(seconds=5))
    await _job(db, run_at=now + timedelta(hours=1))
    await _job(db, "running")
    await _job(db, "dead")
    for _ in range(2):
        await _job(db, "done")
    async with db.read() as session:
        counts = await job_counts(session)
    assert counts == {"queued": 3, "running": 1, "done": 2, "dead": 1, "due": 2, "overdue": 1}


async def test_job_counts_are_zero_for_an_empty_queue(db: Database) -> None:
    async with db.read() as session:
        counts = await job_counts(session)
    assert set(counts.values()) == {0}
    assert set(counts) == {"queued", "running", "done", "dead", "due", "overdue"}


async def test_list_jobs_filters_by_status_newest_first(db: Database) -> None:
    dead = [await _job(db, "dead") for _ in range(3)]
    await _job(db, "done")
    async with db.read() as session:
        assert [j.id for j in await list_jobs(session, status="dead", limit=2, offset=0)] == [
            dead[2],
            dead[1],
        ]
        assert [j.id for j in await list_jobs(session, status="dead", limit=2, offset=2)] == [
            dead[0]
        ]
        assert len(await list_jobs(session, status=None, limit=10, offset=0)) == 4


async def test_retry_job_requeues_a_dead_job_with_attempts_reset(db: Database) -> None:
    job_id = await _job(db, "dead", attempts=8, last_error="ValueError: nope", finished_at=utcnow())
    async with db.write() as session:
        assert await retry_job(session, job_id) is True
    job = await load_job(db, job_id)
    assert (job.status, job.attempts, job.finished_at) == ("queued", 0, None)
    assert job.run_at <= utcnow()
    assert job.last_error == "ValueError: nope"


async def test_retry_job_refuses_a_job_that_is_not_dead(db: Database) -> None:
    queued = await _job(db)
    async with db.write() as session:
        assert await retry_job(session, queued) is False
        assert await retry_job(session, 999_999) is False


async def test_purge_done_deletes_only_old_done_jobs(db: Database) -> None:
    old = utcnow() - timedelta(days=20)
    old_done = await _job(db, "done", finished_at=old)
    recent_done = await _job(db, "done", finished_at=utcnow())
    old_dead = await _job(db, "dead", finished_at=old)
    async with db.write() as session:
        assert await purge_done(session, timedelta(days=14), registry=Registry()) == 1
    async with db.read() as session:
        left = {j.id for j in await list_jobs(session, status=None, limit=10, offset=0)}
    assert left == {recent_done, old_dead}
    assert old_done not in left


async def test_purge_done_keeps_the_job_of_a_schedules_latest_slot(db: Database) -> None:
    registry = Registry()
    yearly = registry.cron("0 0 1 1 *", "report", name="yearly")
    old = utcnow() - timedelta(days=400)
    current = yearly.latest_slot(utcnow())
    keep = await _job(db, "done", finished_at=old, idempotency_key=yearly.idempotency_key(current))
    await _job(db, "done", finished_at=old, idempotency_key="cron:yearly:1999-01-01T00:00:00+00:00")
    async with db.write() as session:
        assert await purge_done(session, timedelta(days=14), registry=registry) == 1
    assert (await load_job(db, keep)).status == "done"


def test_purging_done_jobs_is_a_daily_cron_job() -> None:
    schedule = default_registry.schedules["purge-done-jobs"]
    assert schedule.kind == "jobs.purge_done" and schedule.kind in default_registry.handlers
    assert schedule.expression == "17 3 * * *"
