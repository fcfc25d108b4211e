"""The continuity jobs are registered, scheduled, and move an absence along."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from allsang.authz import Actor
from allsang.continuity import absence as absences
from allsang.continuity import busfactor
from allsang.continuity import jobs as continuity_jobs
from allsang.db.models import Job
from allsang.db.models.continuity import Absence
from allsang.db.types import utcnow
from allsang.jobs import JobContext, default_registry
from allsang.runtime import Runtime
from tests.continuity.conftest import Team


def test_the_handlers_and_schedules_are_registered() -> None:
    for kind in (absences.JOB_KIND, continuity_jobs.SWEEP, busfactor.JOB_KIND):
        assert kind in default_registry.handlers
    assert default_registry.schedules[continuity_jobs.SWEEP].expression == "*/15 * * * *"
    assert default_registry.schedules[busfactor.JOB_KIND].kind == busfactor.JOB_KIND


async def test_the_absence_job_starts_a_due_absence_and_creating_one_queues_both_ends(
    runtime: Runtime, team: Team
) -> None:
    now = utcnow()
    async with runtime.db.write() as session:
        absence, _ = await absences.create(
            session,
            Actor(kind="system", label="test", workspace_id=team.workspace.id),
            workspace_id=team.workspace.id,
            person_id=team.id("anna"),
            deputy_id=team.id("bo"),
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=2),
        )
        queued = list(
            await session.scalars(select(Job.run_at).where(Job.kind == absences.JOB_KIND))
        )
    assert sorted(queued) == [now + timedelta(days=1), now + timedelta(days=2)]
    async with runtime.db.write() as session:
        row = await session.get(Absence, absence.id)
        assert row is not None
        row.starts_at = now - timedelta(minutes=1)  # as if the day had come
    ctx = JobContext(runtime, 1, absences.JOB_KIND, 1, 8, "test")
    await continuity_jobs.absence_job(ctx, {"absence_id": absence.id})
    await continuity_jobs.absence_job(ctx, {"absence_id": absence.id})  # at least once
    async with runtime.db.read() as session:
        row = await session.get(Absence, absence.id)
    assert row is not None and row.state == "active"
