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
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: the column values to write if the lease is still ours (done
    jobs are written in one batch, which sets ``finished_at``)."""

    job: ClaimedJob
    values: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.values["status"])


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
        # Jobs whose lease we hold: running, or finished with the outcome not yet written.
        self._held: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._finished: list[Outcome] = []
        self._wake = asyncio.Event()

    async def claim(self, limit: int) -> list[ClaimedJob]:
        """Claim up to ``limit`` due jobs for this worker (committed before returning)."""
        return await self._record([], claim=limit)

    async def execute(self, job: ClaimedJob) -> None:
        """Run one claimed job and record done, retry or dead letter."""
        await self._record([await self._attempt(job)])

    async def run_once(self) -> int:
        """Claim up to ``concurrency`` due jobs, run them to the end; return how many ran."""
        jobs = await self.claim(self.concurrency)
        await self._record(list(await asyncio.gather(*(self._attempt(job) for job in jobs))))
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
            asyncio.create_task(self._heartbeat()),
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
            self._wake.clear()
            finished, self._finished = self._finished, []
            free = self.concurrency - len(self._tasks)
            if not finished and not free:
                await _wait_any(stop, self._wake, None)
                continue
            try:
                # Outcomes of finished jobs and the next claim share one transaction: on
                # SQLite the write lock, not the SQL, is what limits throughput.
                jobs = await self._record(finished, claim=free)
            except (SQLAlchemyError, OSError):
                log.exception("job worker %s could not reach the database", self.worker_id)
                self._finished[:0] = finished
                await _wait_any(stop, self._wake, max(self.poll_seconds, 1.0))
                continue
            for job in jobs:
                task = asyncio.create_task(self._run_in_background(job))
                self._tasks.add(task)
                task.add_done_callback(self._task_done)
            if len(jobs) < free:
                await _wait_any(stop, self._wake, self.poll_seconds)

    async def _run_in_background(self, job: ClaimedJob) -> None:
        outcome = await self._attempt(job)
        # Not `self._finished.append(await …)`: that binds the list the loop swaps out meanwhile.
        self._finished.append(outcome)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def _drain(self) -> None:
        if self._tasks:
            log.info("job worker %s waits for %d running jobs", self.worker_id, len(self._tasks))
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.grace_seconds)
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
        try:
            await self._record(self._finished)
        except (SQLAlchemyError, OSError):
            log.exception("job worker %s could not record its last outcomes", self.worker_id)

    async def _heartbeat(self) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            held = list(self._held)
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
                if job_id in self._held:
                    log.warning("job %d: lease lost to another worker", job_id)

    async def _attempt(self, job: ClaimedJob) -> Outcome:
        func = self.registry.handlers.get(job.kind)
        if func is None:
            return self._dead(job, f"No handler is registered for job kind {job.kind!r}.")
        if job.attempt > job.max_attempts:
            return self._dead(
                job,
                f"Attempt {job.attempt - 1} of {job.max_attempts} was never finished: the "
                "worker running it stopped or hung until its lease expired.",
            )
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
            return self._dead(job, error_reason(exc))
        except Exception as exc:
            if job.attempt >= job.max_attempts:
                return self._dead(job, f"Gave up after {job.attempt} attempts. {error_reason(exc)}")
            run_at = self.clock() + backoff_delay(job.attempt, self.rand)
            log.info("job %d (%s) attempt %d failed: %r", job.id, job.kind, job.attempt, exc)
            return Outcome(
                job, {"status": "queued", "run_at": run_at, "last_error": error_reason(exc)}
            )
        finally:
            metrics.JOB_RUN_SECONDS.labels(job.kind).observe(time.perf_counter() - started)
        return Outcome(job, {"status": "done"})

    def _dead(self, job: ClaimedJob, reason: str) -> Outcome:
        log.warning("job %d (%s) dead-lettered: %s", job.id, job.kind, reason.splitlines()[0])
        return Outcome(job, {"status": "dead", "finished_at": self.clock(), "last_error": reason})

    async def _record(self, outcomes: list[Outcome], *, claim: int = 0) -> list[ClaimedJob]:
        """Write ``outcomes`` and claim up to ``claim`` new jobs in one transaction."""
        if not outcomes and not claim:
            return []
        done = [o for o in outcomes if o.status == "done"]
        written: set[int] = set()
        jobs: list[ClaimedJob] = []
        async with self.runtime.db.write() as session:
            if done:
                written |= await settle(
                    session,
                    worker_id=self.worker_id,
                    attempts=[(o.job.id, o.job.attempt) for o in done],
                    status="done",
                    finished_at=self.clock(),
                )
            for outcome in outcomes:
                if outcome.status != "done":
                    written |= await settle(
                        session,
                        worker_id=self.worker_id,
                        attempts=[(outcome.job.id, outcome.job.attempt)],
                        **outcome.values,
                    )
            if claim:
                jobs = await claim_jobs(
                    session,
                    worker_id=self.worker_id,
                    limit=claim,
                    now=self.clock(),
                    lease=self.lease,
                )
        for outcome in outcomes:
            self._held.discard(outcome.job.id)
            if outcome.job.id not in written:
                log.warning(
                    "job %d: lease lost; attempt %d not recorded",
                    outcome.job.id,
                    outcome.job.attempt,
                )
                continue
            counter = {"done": metrics.JOBS_SUCCEEDED, "queued": metrics.JOBS_RETRIED}.get(
                outcome.status, metrics.JOBS_DEAD
            )
            counter.labels(outcome.job.kind).inc()
        for job in jobs:
            self._held.add(job.id)
            metrics.JOBS_CLAIMED.labels(job.kind).inc()
        return jobs


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
