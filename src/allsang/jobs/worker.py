"""The worker: claims due jobs with a lease, runs their handlers, records the outcome."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import secrets
import socket
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from allsang.db.types import utcnow
from allsang.jobs import metrics
from allsang.jobs.claim import ClaimedJob, claim_jobs, extend_leases, settle
from allsang.jobs.registry import JobContext, PermanentJobError, Registry, default_registry
from allsang.jobs.scheduler import Scheduler
from allsang.runtime import Runtime

log = logging.getLogger("allsang.jobs")

# Full-jitter exponential backoff: after failed attempt n the job waits a uniformly random
# time in [0, min(CAP, BASE * 2**(n-1))]. With the default 8 attempts the windows are 15 s,
# 30 s, 1 min, 2 min, 4 min, 8 min and 16 min: at most ~32 minutes from the first failure to
# the dead letter, ~16 on average. Jitter spreads the retries of a batch that failed together
# (a network outage) instead of hammering the network again in lock step.
BACKOFF_BASE_SECONDS = 15.0
BACKOFF_CAP_SECONDS = 3600.0

# How long a stopping worker waits for running handlers before abandoning them; abandoned jobs
# keep their lease and are retaken by any worker once it expires.
SHUTDOWN_GRACE_SECONDS = 30.0

TRACEBACK_LINES = 12
MAX_ERROR_CHARS = 4000


def backoff_delay(attempt: int, rand: Callable[[], float] = random.random) -> timedelta:
    """The wait before retrying after failed attempt ``attempt`` (1-based), full jitter."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempt - 1, 32))
    return timedelta(seconds=ceiling * rand())


def error_reason(exc: BaseException) -> str:
    """``Type: message`` followed by the last lines of the traceback."""
    headline = f"{type(exc).__name__}: {exc}"
    lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    tail = "\n".join(lines[-TRACEBACK_LINES:])
    return f"{headline}\n{tail}"[:MAX_ERROR_CHARS]


def make_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Worker:
    """Runs jobs from the ``job`` table; any number of workers may share one database.

    ``concurrency``, ``lease_seconds`` and ``poll_seconds`` default to the settings
    ``worker_concurrency``, ``job_lease_seconds`` and ``worker_poll_seconds``. ``clock`` and
    ``rand`` exist so tests can move time and pin the jitter.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        registry: Registry = default_registry,
        concurrency: int | None = None,
        lease_seconds: float | None = None,
        poll_seconds: float | None = None,
        grace_seconds: float = SHUTDOWN_GRACE_SECONDS,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.registry = registry
        self.concurrency = concurrency or settings.worker_concurrency
        self.lease = timedelta(seconds=lease_seconds or settings.job_lease_seconds)
        self.poll_seconds = settings.worker_poll_seconds if poll_seconds is None else poll_seconds
        self.grace_seconds = grace_seconds
        self.worker_id = worker_id or make_worker_id()
        self.clock = clock
        self.rand = rand
        self._running: dict[int, asyncio.Task[None]] = {}
        self._slot_freed = asyncio.Event()

    async def claim(self, limit: int) -> list[ClaimedJob]:
        """Claim up to ``limit`` due jobs for this worker (committed before returning)."""
        async with self.runtime.db.write() as session:
            jobs = await claim_jobs(
                session, worker_id=self.worker_id, limit=limit, now=self.clock(), lease=self.lease
            )
        for job in jobs:
            metrics.JOBS_CLAIMED.labels(job.kind).inc()
        return jobs

    async def run_once(self) -> int:
        """Claim up to ``concurrency`` due jobs, run them to the end; return how many ran."""
        jobs = await self.claim(self.concurrency)
        await asyncio.gather(*(self.execute(job) for job in jobs))
        return len(jobs)

    async def run(self, stop: asyncio.Event) -> None:
        """Run jobs until ``stop`` is set, then finish the running ones (up to the grace
        period) and return. Runs the cron scheduler and the lease heartbeat alongside."""
        log.info(
            "job worker %s started: concurrency %d, lease %ss, kinds %s",
            self.worker_id,
            self.concurrency,
            self.lease.total_seconds(),
            ", ".join(sorted(self.registry.handlers)) or "none",
        )
        scheduler = Scheduler(self.runtime.db, self.registry.schedules.values(), clock=self.clock)
        helpers = [
            asyncio.create_task(self._heartbeat(stop)),
            asyncio.create_task(scheduler.run(stop)),
        ]
        try:
            await self._claim_loop(stop)
            await self._drain()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        log.info("job worker %s stopped", self.worker_id)

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._slot_freed.clear()
            free = self.concurrency - len(self._running)
            wait: float | None = None
            if free > 0:
                try:
                    jobs = await self.claim(free)
                except (SQLAlchemyError, OSError):
                    log.exception("job worker %s could not claim jobs", self.worker_id)
                    jobs = []
                for job in jobs:
                    task = asyncio.create_task(self.execute(job))
                    self._running[job.id] = task
                    task.add_done_callback(lambda _t, job_id=job.id: self._release(job_id))
                if len(jobs) == free:
                    # A full batch suggests more are waiting: claim again as soon as a slot frees.
                    continue
                wait = self.poll_seconds
            await _wait_any(stop, self._slot_freed, wait)

    def _release(self, job_id: int) -> None:
        self._running.pop(job_id, None)
        self._slot_freed.set()

    async def _drain(self) -> None:
        tasks = list(self._running.values())
        if not tasks:
            return
        log.info("job worker %s waits for %d running jobs", self.worker_id, len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=self.grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            log.warning(
                "job worker %s abandoned %d jobs at shutdown; they are retried when their "
                "lease expires",
                self.worker_id,
                len(pending),
            )

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            held = list(self._running)
            if not held:
                continue
            try:
                async with self.runtime.db.write() as session:
                    kept = await extend_leases(
                        session,
                        worker_id=self.worker_id,
                        job_ids=held,
                        until=self.clock() + self.lease,
                    )
            except (SQLAlchemyError, OSError):
                log.exception("job worker %s could not extend its leases", self.worker_id)
                continue
            for job_id in set(held) - kept:
                if job_id in self._running:
                    log.warning(
                        "job %d: lease lost to another worker; its result will be discarded",
                        job_id,
                    )

    async def execute(self, job: ClaimedJob) -> None:
        """Run one claimed job and record done, retry or dead letter."""
        func = self.registry.handlers.get(job.kind)
        if func is None:
            await self._dead(job, f"No handler is registered for job kind {job.kind!r}.")
            return
        if job.attempt > job.max_attempts:
            await self._dead(
                job,
                f"Attempt {job.attempt} of {job.max_attempts} was never finished: the worker "
                "running it stopped or hung until its lease expired.",
            )
            return
        ctx = JobContext(
            runtime=self.runtime,
            job_id=job.id,
            kind=job.kind,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            worker_id=self.worker_id,
        )
        started = time.perf_counter()
        try:
            await func(ctx, dict(job.payload))
        except PermanentJobError as exc:
            metrics.JOB_RUN_SECONDS.labels(job.kind).observe(time.perf_counter() - started)
            await self._dead(job, error_reason(exc))
        except Exception as exc:
            metrics.JOB_RUN_SECONDS.labels(job.kind).observe(time.perf_counter() - started)
            reason = error_reason(exc)
            if job.attempt >= job.max_attempts:
                await self._dead(job, f"Gave up after {job.attempt} attempts. {reason}")
            else:
                await self._retry(job, reason)
        else:
            metrics.JOB_RUN_SECONDS.labels(job.kind).observe(time.perf_counter() - started)
            if await self._settle(job, status="done", finished_at=self.clock()):
                metrics.JOBS_SUCCEEDED.labels(job.kind).inc()

    async def _retry(self, job: ClaimedJob, reason: str) -> None:
        run_at = self.clock() + backoff_delay(job.attempt, self.rand)
        log.info("job %d (%s) attempt %d failed; retry %s", job.id, job.kind, job.attempt, run_at)
        if await self._settle(job, status="queued", run_at=run_at, last_error=reason):
            metrics.JOBS_RETRIED.labels(job.kind).inc()

    async def _dead(self, job: ClaimedJob, reason: str) -> None:
        log.warning("job %d (%s) dead-lettered: %s", job.id, job.kind, reason.splitlines()[0])
        if await self._settle(job, status="dead", finished_at=self.clock(), last_error=reason):
            metrics.JOBS_DEAD.labels(job.kind).inc()

    async def _settle(self, job: ClaimedJob, **values: object) -> bool:
        try:
            async with self.runtime.db.write() as session:
                written = await settle(
                    session,
                    job_id=job.id,
                    worker_id=self.worker_id,
                    attempt=job.attempt,
                    **values,
                )
        except (SQLAlchemyError, OSError):
            # The job keeps its lease and is retried after it expires: at-least-once.
            log.exception("job %d: could not record its outcome", job.id)
            return False
        if not written:
            log.warning("job %d: lease lost; attempt %d not recorded", job.id, job.attempt)
        return written


async def _wait_any(first: asyncio.Event, second: asyncio.Event, limit: float | None) -> None:
    waiters = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def load_handler_modules() -> list[str]:
    """Import every ``allsang/<area>/jobs.py`` so its ``@handler``s and ``cron``s register.

    Handlers live beside the code they serve; this convention keeps the worker from needing a
    list of them.
    """
    import allsang

    loaded = []
    for package in sorted(Path(allsang.__file__).parent.iterdir()):
        if (package / "jobs.py").is_file() and (package / "__init__.py").is_file():
            name = f"allsang.{package.name}.jobs"
            importlib.import_module(name)
            loaded.append(name)
    return loaded


async def run_worker(runtime: Runtime, stop: asyncio.Event) -> None:
    """Load the handler modules and run a :class:`Worker` with the settings until ``stop``."""
    load_handler_modules()
    await Worker(runtime).run(stop)
