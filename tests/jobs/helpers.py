"""Helpers shared by the job tests (the multi-process entry point is ``worker_process.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from allsang.db import Database
from allsang.db.models import Job


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def load_job(db: Database, job_id: int) -> Job:
    async with db.read() as session:
        return (await session.execute(select(Job).where(Job.id == job_id))).scalar_one()
