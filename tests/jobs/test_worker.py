from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import select, update

from allsang.db import Database
from allsang.db.models import Job
from allsang.db.types import utcnow
from allsang.jobs import (
    JobContext,
    PermanentJobError,
    Registry,
    Worker,
    backoff_delay,
    enqueue,
    run_worker,
)
from allsang.jobs.claim import claim_jobs
from allsang.jobs.worker import BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS
from allsang.runtime import Runtime
from tests.jobs.helpers import Clock, load_job


async def _enqueue(
    db: Database, kind: str, payload: dict[str, Any] | None = None, **kw: Any
) -> int:
    async with db.write() as session:
        job_id = await enqueue(session, kind, payload, **kw)
    assert job_id is not None
    return job_id


def test_backoff_windows_double_from_the_base_up_to_the_cap() -> None:
    windows = [backoff_delay(n, lambda: 1.0).total_seconds() for n in range(1, 12)]
    assert windows[:4] == [BACKOFF_BASE_SECONDS * f for f in (1, 2, 4, 8)]
    assert max(windows) == BACKOFF_CAP_SECONDS == windows[-1]
    assert backoff_delay(3, lambda: 0.0) == timedelta(0)
    assert backoff_delay(3, lambda: 0.25) == timedelta(seconds=BACKOFF_BASE_SECONDS)
    assert backoff_delay(10_000, lambda: 0.5).total_seconds() == BACKOFF_CAP_SECONDS / 2


async def test_it_runs_a_due_job_and_marks_it_done(
    runtime: Runtime, registry: Registry, clock: Clock
) -> None:
    seen: list[tuple[int, int, dict[str, Any]]] = []

    @registry.handler("greet")
    async def greet(ctx: JobContext, payload: dict[str, Any]) -> None:
        seen.append((ctx.job_id, ctx.attempt, payload))

    job_id = await _enqueue(runtime.db, "greet", {"name": "Ada"})
    worker = Worker(runtime, registry=registry, clock=clock)
    assert await worker.run_once() == 1
    assert seen == [(job_id, 1, {"name": "Ada"})]
    job = await load_job(runtime.db, job_id)
    assert (job.status, job.attempts, job.finished_at) == ("done", 1, clock.now)
    assert job.locked_by is None and job.locked_until is None
    assert await worker.run_once() == 0


async def test_it_does_not_run_a_job_before_its_run_at(
    runtime: Runtime, registry: Registry, clock: Clock
) -> None:
    registry.handler("later")(_noop)
    job_id = await _enqueue(runtime.db, "later", run_at=clock.now + timedelta(minutes=5))
    worker = Worker(runtime, registry=registry, clock=clock)
    assert await worker.run_once() == 0
    clock.advance(minutes=5)
    assert await worker.run_once() == 1
    assert (await load_job(runtime.db, job_id)).status == "done"


async def test_a_failing_job_is_requeued_with_full_jitter_backoff(
    runtime: Runtime, registry: Registry, clock: Clock
) -> None:
    @registry.handler("flaky")
    async def flaky(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise ConnectionError("network unreachable")

    job_id = await _enqueue(runtime.db, "flaky")
    worker = Worker(runtime, registry=registry, clock=clock, rand=lambda: 0.5)
    await worker.run_once()
    job = await load_job(runtime.db, job_id)
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.run_at == clock.now + timedelta(seconds=BACKOFF_BASE_SECONDS * 0.5)
    assert job.last_error is not None
    assert job.last_error.startswith("ConnectionError: network unreachable")

    clock.advance(seconds=BACKOFF_BASE_SECONDS * 0.5)
    await worker.run_once()
    job = await load_job(runtime.db, job_id)
    assert (job.status, job.attempts) == ("queued", 2)
    assert job.run_at == clock.now + timedelta(seconds=BACKOFF_BASE_SECONDS * 2 * 0.5)


async def test_it_dead_letters_after_max_attempts(
    runtime: Runtime, registry: Registry, clock: Clock
) -> None:
    attempts: list[int] = []

    @registry.handler("doomed")
    async def doomed(ctx: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(ctx.attempt)
        raise ValueError(f"bad answer on attempt {ctx.attempt}")

    job_id = await _enqueue(runtime.db, "doomed", max_attempts=3)
    worker = Worker(runtime, registry=registry, clock=clock, rand=lambda: 1.0)
    for _ in range(3):
        assert await worker.run_once() == 1
        clock.advance(hours=1)
    assert await worker.run_once() == 0
    assert attempts == [1, 2, 3]
    job = await load_job(runtime.db, job_id)
    assert (job.status, job.attempts) == ("dead", 3)
    assert job.finished_at is not None
    assert job.last_error is not None
    assert job.last_error.startswith(
        "Gave up after 3 attempts. ValueError: bad answer on attempt 3"
    )
    assert "in doomed" in job.last_error  # the end of the traceback is kept


async def test_a_permanent_error_dead_letters_at_once(
    runtime: Runtime, registry: Registry, clock: Clock
) -> None:
    @registry.handler("publish")
    async def publish(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise PermanentJobError("the post was deleted")

    job_id = await _enqueue(runtime.db, "publish")
    await Worker(runtime, registry=registry, clock=clock).run_once()
    job = await load_job(runtime.db, job_id)
    assert (job.status, job.attempts) == ("dead", 1)
    assert job.last_error is not None
    assert job.last_error.startswith("PermanentJobError: the post was deleted")


async def test_an_unknown_kind_is_dead_lettered_with_a_clear_reason(
    runtime: Runtime, registry: Registry, clock: Clock
) -> None:
    job_id = await _enqueue(runtime.db, "no.such.kind")
    await Worker(runtime, registry=registry, clock=clock).run_once()
    job = await load_job(runtime.db, job_id)
    assert job.status == "dead"
    assert job.last_error == "No handler is registered for job kind 'no.such.kind'."


async def test_an_expired_lease_lets_another_worker_take_the_job_over(
    runtime: Runtime, registry: Registry, clock: Clock
) -> None:
    registry.handler("slow")(_noop)
    job_id = await _enqueue(runtime.db, "slow")
    first = Worker(runtime, registry=registry, clock=clock, lease_seconds=60)
    second = Worker(runtime, registry=registry, clock=clock, lease_seconds=60)
    [claimed] = await first.claim(10)
    assert await second.claim(10) == []
    clock.advance(seconds=61)
    [retaken] = await second.claim(10)
    assert (retaken.id, retaken.attempt) == (job_id, 2)

    # The first worker finishing late must not overwrite the new owner's state.
    await first.execute(claimed)
    job = await load_job(runtime.db, job_id)
    assert (job.status, job.locked_by) == ("running", second.worker_id)
    await second.execute(retaken)
    assert (await load_job(runtime.db, job_id)).status == "done"


async def test_a_job_whose_last_attempt_lost_its_lease_is_dead_lettered(
    runtime: Runtime, registry: Registry, clock: Clock
) -> None:
    runs: list[int] = []

    @registry.handler("crashy")
    async def crashy(ctx: JobContext, payload: dict[str, Any]) -> None:
        runs.append(ctx.attempt)

    job_id = await _enqueue(runtime.db, "crashy", max_attempts=1)
    worker = Worker(runtime, registry=registry, clock=clock, lease_seconds=10)
    await worker.claim(1)  # and the worker dies
    clock.advance(seconds=11)
    await worker.run_once()
    assert runs == []
    job = await load_job(runtime.db, job_id)
    assert (job.status, job.attempts) == ("dead", 2)
    assert job.last_error is not None and "lease expired" in job.last_error


async def test_heartbeats_keep_a_long_jobs_lease(runtime: Runtime, registry: Registry) -> None:
    runs: list[int] = []

    @registry.handler("long")
    async def long(ctx: JobContext, payload: dict[str, Any]) -> None:
        runs.append(ctx.attempt)
        await asyncio.sleep(2.4)

    job_id = await _enqueue(runtime.db, "long")
    # A lease of 1.2 s: without heartbeats the rival below would take the job after 1.2 s.
    # (Not shorter: on a loaded machine a heartbeat may come late by a good fraction of it.)
    worker = Worker(runtime, registry=registry, lease_seconds=1.2, poll_seconds=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    rival = Database(runtime.db.url)
    stolen = []
    try:
        for _ in range(24):
            await asyncio.sleep(0.1)
            async with rival.write() as session:
                stolen += await claim_jobs(
                    session,
                    worker_id="rival",
                    limit=1,
                    now=utcnow(),
                    lease=timedelta(seconds=60),
                )
        for _ in range(50):
            if (await load_job(runtime.db, job_id)).status == "done":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
        await rival.dispose()
    assert stolen == []
    assert runs == [1]
    job = await load_job(runtime.db, job_id)
    assert (job.status, job.attempts) == ("done", 1)


async def test_the_worker_runs_jobs_concurrently_and_stops_after_finishing_them(
    runtime: Runtime, registry: Registry
) -> None:
    started = asyncio.Event()
    active: list[int] = []
    peak = 0

    @registry.handler("work")
    async def work(ctx: JobContext, payload: dict[str, Any]) -> None:
        nonlocal peak
        active.append(ctx.job_id)
        peak = max(peak, len(active))
        if len(active) == 3:
            started.set()
        await asyncio.sleep(0.3)
        active.remove(ctx.job_id)

    ids = [await _enqueue(runtime.db, "work") for _ in range(3)]
    worker = Worker(runtime, registry=registry, concurrency=3, poll_seconds=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(running, 5)
    assert peak == 3
    assert [(await load_job(runtime.db, i)).status for i in ids] == ["done"] * 3


async def test_a_job_unfinished_after_the_grace_period_keeps_its_lease(
    runtime: Runtime, registry: Registry
) -> None:
    started = asyncio.Event()

    @registry.handler("stuck")
    async def stuck(ctx: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(60)

    job_id = await _enqueue(runtime.db, "stuck")
    worker = Worker(runtime, registry=registry, poll_seconds=0.05, grace_seconds=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(running, 5)
    job = await load_job(runtime.db, job_id)
    assert (job.status, job.locked_by, job.attempts) == ("running", worker.worker_id, 1)
    assert job.locked_until is not None and job.locked_until > utcnow()


async def _noop(ctx: JobContext, payload: dict[str, Any]) -> None:
    return None


async def test_run_worker_runs_the_built_in_daily_purge_and_stops(runtime: Runtime) -> None:
    old = await _enqueue(runtime.db, "report")
    async with runtime.db.write() as session:
        await session.execute(
            update(Job)
            .where(Job.id == old)
            .values(status="done", finished_at=utcnow() - timedelta(days=30))
        )
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(runtime, stop))
    try:
        for _ in range(200):
            async with runtime.db.read() as session:
                jobs = (await session.execute(select(Job.kind, Job.status))).all()
            # Other areas' schedules (the hourly trend run) may be enqueued beside it.
            if ("jobs.purge_done", "done") in jobs and all(k != "report" for k, _ in jobs):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    assert ("jobs.purge_done", "done") in jobs
    assert [kind for kind, _ in jobs if kind == "report"] == []


async def test_it_counts_claims_outcomes_and_run_time_by_kind(
    runtime: Runtime, registry: Registry, clock: Clock
) -> None:
    @registry.handler("metered")
    async def metered(ctx: JobContext, payload: dict[str, Any]) -> None:
        if payload["fail"]:
            raise PermanentJobError("no")

    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"kind": "metered"}) or 0.0

    names = [
        "allsang_jobs_claimed_total",
        "allsang_jobs_succeeded_total",
        "allsang_jobs_dead_lettered_total",
        "allsang_job_run_seconds_count",
    ]
    before = [value(name) for name in names]
    await _enqueue(runtime.db, "metered", {"fail": False})
    await _enqueue(runtime.db, "metered", {"fail": True})
    await Worker(runtime, registry=registry, clock=clock).run_once()
    assert [value(name) - b for name, b in zip(names, before, strict=True)] == [2, 1, 1, 2]
