from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from allsang.db import Database
from allsang.db.models import Job
from allsang.jobs import enqueue
from tests.jobs.helpers import load_job


class Rollback(Exception):
    pass


async def _count(db: Database) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(Job))).scalar_one()


async def test_a_job_enqueued_in_a_committed_transaction_is_queued_and_due(db: Database) -> None:
    before = datetime.now(UTC)
    async with db.write() as session:
        job_id = await enqueue(session, "mail.send", {"to": "a@example.org"}, max_attempts=3)
    assert job_id is not None
    job = await load_job(db, job_id)
    assert (job.kind, job.status, job.payload) == ("mail.send", "queued", {"to": "a@example.org"})
    assert (job.attempts, job.max_attempts) == (0, 3)
    assert before <= job.run_at <= datetime.now(UTC)


async def test_a_job_enqueued_in_a_rolled_back_transaction_does_not_exist(db: Database) -> None:
    with pytest.raises(Rollback):
        async with db.write() as session:
            assert await enqueue(session, "mail.send") is not None
            raise Rollback
    assert await _count(db) == 0


async def test_a_repeated_idempotency_key_adds_nothing_and_returns_none(db: Database) -> None:
    async with db.write() as session:
        first = await enqueue(session, "publish", {"post": 1}, idempotency_key="publish:1")
    async with db.write() as session:
        second = await enqueue(session, "publish", {"post": 2}, idempotency_key="publish:1")
        third = await enqueue(session, "publish", {"post": 3}, idempotency_key="publish:3")
    assert first is not None and second is None and third is not None
    assert (await load_job(db, first)).payload == {"post": 1}
    assert await _count(db) == 2


async def test_the_same_key_twice_in_one_transaction_adds_one_job(db: Database) -> None:
    async with db.write() as session:
        ids = [await enqueue(session, "publish", idempotency_key="k") for _ in range(2)]
    assert ids[0] is not None and ids[1] is None
    assert await _count(db) == 1


async def test_it_keeps_a_future_run_at(db: Database) -> None:
    later = datetime(2030, 1, 1, 9, tzinfo=UTC) + timedelta(microseconds=5)
    async with db.write() as session:
        job_id = await enqueue(session, "report", run_at=later, workspace_id=None)
    assert job_id is not None
    assert (await load_job(db, job_id)).run_at == later


async def test_it_refuses_a_naive_run_at(db: Database) -> None:
    async with db.write() as session:
        with pytest.raises(ValueError, match="naive"):
            await enqueue(session, "report", run_at=datetime(2030, 1, 1))
