"""Several worker processes on one database: each job runs once, and a killed worker's job is
taken over once its lease expires. Run with ``-s`` to see the measured throughput."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from allsang.db import Database
from allsang.db.models import Job
from allsang.db.types import utcnow

WORKER = Path(__file__).with_name("worker_process.py")
JOBS = 3000

pytestmark = pytest.mark.slow


class Workers:
    """Worker processes writing to one log file; all are stopped when the test ends."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *options: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, str(WORKER), self.url, str(self.log), *options])
        self.processes.append(process)
        return process

    def lines(self, event: str) -> list[tuple[int, str, int]]:
        if not self.log.exists():
            return []
        found = []
        for line in self.log.read_text().splitlines():
            name, job_id, worker_id, attempt = line.split(" ")
            if name == event:
                found.append((int(job_id) if job_id != "-" else 0, worker_id, _int(attempt)))
        return found

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _int(text: str) -> int:
    return int(text) if text != "-" else 0


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(database_url, tmp_path / "runs.log")
    yield pool
    pool.stop()


def _sql(url: str, work: Callable[[Database], object]) -> object:
    async def run() -> object:
        db = Database.unpooled(url)
        try:
            return await work(db)  # type: ignore[misc]
        finally:
            await db.dispose()

    return asyncio.run(run())


async def _insert_jobs(db: Database, kind: str, count: int) -> None:
    now = utcnow()
    row = {"kind": kind, "payload": {}, "status": "queued", "run_at": now, "attempts": 0}
    async with db.write() as session:
        await session.execute(
            insert(Job), [{**row, "max_attempts": 8, "created_at": now} for _ in range(count)]
        )


def _statuses(url: str) -> dict[str, int]:
    async def query(db: Database) -> dict[str, int]:
        async with db.read() as session:
            rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
            return {status: count for status, count in rows.all()}

    return _sql(url, query)  # type: ignore[return-value]


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_four_worker_processes_run_3000_jobs_each_exactly_once(
    workers: Workers, database_url: str
) -> None:
    for _ in range(4):
        workers.start()
    _wait_until(lambda: len(workers.lines("ready")) == 4, 30, "four workers to start")

    started = time.perf_counter()
    _sql(database_url, lambda db: _insert_jobs(db, "record", JOBS))
    # Reading the log is cheap; polling the database this often would take CPU from the workers.
    _wait_until(lambda: len(workers.lines("run")) >= JOBS, 60, "all jobs to run")
    _wait_until(lambda: _statuses(database_url).get("done") == JOBS, 10, "all jobs done")
    elapsed = time.perf_counter() - started
    workers.stop()

    runs = workers.lines("run")
    ran = Counter(job_id for job_id, _, _ in runs)
    assert len(ran) == JOBS
    assert [job_id for job_id, count in ran.items() if count > 1] == []
    assert {attempt for _, _, attempt in runs} == {1}
    assert len({worker for _, worker, _ in runs}) > 1
    assert _statuses(database_url) == {"done": JOBS}
    engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    rate = JOBS / elapsed
    print(f"\n{engine}: 4 processes ran {JOBS} jobs in {elapsed:.1f} s = {rate:.0f} jobs/s")


def test_a_killed_workers_job_is_completed_once_by_another_after_its_lease_expires(
    workers: Workers, database_url: str
) -> None:
    _sql(database_url, lambda db: _insert_jobs(db, "block", 1))
    # A 3 s lease, heartbeat every second: short, yet with two seconds of slack for a late
    # heartbeat on a loaded machine.
    doomed = workers.start("--lease", "3", "--hang")
    _wait_until(lambda: len(workers.lines("start")) == 1, 30, "the first worker to take the job")
    [(job_id, doomed_id, _)] = workers.lines("start")

    workers.start("--lease", "3")
    _wait_until(lambda: len(workers.lines("ready")) == 2, 30, "the second worker to start")
    # Longer than the lease: heartbeats must keep the job with the living first worker.
    time.sleep(4)
    assert len(workers.lines("start")) == 1

    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    killed = time.monotonic()
    _wait_until(lambda: _statuses(database_url).get("done") == 1, 20, "the takeover")
    takeover = timedelta(seconds=time.monotonic() - killed)

    starts = workers.lines("start")
    ends = workers.lines("end")
    assert len(starts) == 2
    assert starts[0] == (job_id, doomed_id, 1)
    assert starts[1][0] == job_id and starts[1][1] != doomed_id and starts[1][2] == 2
    assert ends == [starts[1]]
    assert takeover < timedelta(seconds=12)
