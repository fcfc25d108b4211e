"""``allsang bench scale``: messages/s through ingest and jobs/s through workers with 1, 2 and 4
processes of each on PostgreSQL (and NATS JetStream), beside one process on SQLite.

Everything runs as real ``allsang ingest`` and ``allsang worker`` processes, started before the
clock and left to settle, so start-up is not measured:

* **ingest**: one replay channel per process over its share of the messages (the channels are
  shared out by the ingest leases); the clock runs from the moment the channels are created
  until every message is stored. On PostgreSQL the listeners and consumers talk through a
  JetStream stream; on SQLite one process uses the in-process stream.
* **jobs**: that many ``scale.noop`` jobs are enqueued in one transaction; the clock runs until
  every one is done. The handler does nothing, so this is the queue's own cost: claim, lease,
  heartbeat, settle.

The baseline, measured in the same run, is the single process on SQLite. The report's
``bottleneck`` line compares the speed-up with the number of processes and with the machine's
cores: a speed-up well under the process count on a machine with fewer cores than processes
means the CPU is what is shared; otherwise the database (one writer, or row contention) is.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from allsang.db import Database
from allsang.db.migrate import upgrade
from allsang.db.models import Channel, Job, Message, Workspace
from allsang.ingest.bench import DEFAULT_POSTGRES, _postgres_scratch, generate
from allsang.jobs import enqueue
from allsang.scale.jobs import NOOP
from allsang.secretbox import generate_key

PROCESSES = (1, 2, 4)
SETTLE_SECONDS = 3.0


def _env(database_url: str, data_dir: Path, stream_url: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALLSANG_")},
        "ALLSANG_DATABASE_URL": database_url,
        "ALLSANG_DATA_DIR": str(data_dir),
        "ALLSANG_SECRET_KEYS": generate_key(),
        "ALLSANG_STREAM_URL": stream_url,
        "ALLSANG_INGEST_RESCAN_SECONDS": "0.5",
        "ALLSANG_WORKER_POLL_SECONDS": "0.05",
        "ALLSANG_LOG_LEVEL": "error",
    }


def _start(command: str, count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "allsang", command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


async def _wait_until(db: Database, statement: Any, target: int, limit: float) -> float:
    started = time.perf_counter()
    while True:
        async with db.read() as session:
            if int(await session.scalar(statement) or 0) >= target:
                return time.perf_counter() - started
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"the benchmark did not finish within {limit:.0f} s")
        await asyncio.sleep(0.05)


async def _ingest(db: Database, files: list[Path], total: int) -> float:
    async with db.write() as session:
        workspace = Workspace(slug=f"scale-{uuid.uuid4().hex[:6]}", name="Scale")
        session.add(workspace)
        await session.flush()
        for n, path in enumerate(files):
            session.add(
                Channel(
                    workspace_id=workspace.id,
                    network="replay",
                    name=f"Replay {n}",
                    config={"path": str(path), "batch_size": 1000, "poll_seconds": 3600},
                )
            )
    return await _wait_until(db, select(func.count()).select_from(Message), total, 600)


async def _jobs(db: Database, total: int) -> float:
    async with db.write() as session:
        for _ in range(total):
            await enqueue(session, NOOP)
    done = select(func.count()).select_from(Job).where(Job.kind == NOOP, Job.status == "done")
    return await _wait_until(db, done, total, 600)


async def _with_db(url: str, work: Callable[[Database], Awaitable[float]]) -> float:
    db = Database(url)
    try:
        return await work(db)
    finally:
        await db.dispose()


async def _migrate(db: Database) -> float:
    await upgrade(db)
    return 0.0


def _measure(
    url: str, files: list[Path], messages: int, jobs: int, processes: int, env: dict[str, str]
) -> tuple[float, float]:
    asyncio.run(_with_db(url, _migrate))
    ingest = _start("ingest", processes, env)
    workers = _start("worker", processes, env)
    try:
        time.sleep(SETTLE_SECONDS + processes)  # imports and the first scans, not measured
        ingest_seconds = asyncio.run(_with_db(url, lambda db: _ingest(db, files, messages)))
        job_seconds = asyncio.run(_with_db(url, lambda db: _jobs(db, jobs)))
    finally:
        _stop(ingest + workers)
    return messages / ingest_seconds, jobs / job_seconds


def _split(source: Path, parts: int, folder: Path) -> list[Path]:
    lines = source.read_text().splitlines(keepends=True)
    files = []
    for n in range(parts):
        path = folder / f"part-{parts}-{n}.jsonl"
        path.write_text("".join(lines[n::parts]))
        files.append(path)
    return files


def _bottleneck(rates: dict[int, float], base: float, what: str) -> str:
    cores = os.cpu_count() or 1
    most = max(rates)
    speedup = rates[most] / rates[1]
    summary = f"{what}: {speedup:.1f}× with {most} processes on {cores} cores"
    if speedup >= 0.7 * most:
        return f"{summary} — scales; add processes (or hosts)"
    if most > cores:
        return (
            f"{summary} — the processes share the CPU; spread them over more hosts "
            "before adding more"
        )
    return (
        f"{summary} — the database is the limit (one process on SQLite does "
        f"{base / rates[1]:.1f}× one on PostgreSQL)"
    )


def run(quick: bool, database_url: str | None = None) -> dict[str, Any]:
    messages = 4_000 if quick else 40_000
    jobs = 1_000 if quick else 10_000
    admin = database_url or os.environ.get("ALLSANG_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    metrics: dict[str, Any] = {"messages": messages, "jobs": jobs, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="allsang-scale-") as tmp:
        folder = Path(tmp)
        source = folder / "messages.jsonl"
        generate(source, messages)

        sqlite_url = f"sqlite+aiosqlite:///{folder / 'scale.db'}"
        env = _env(sqlite_url, folder / "sqlite-data", "")
        base_ingest, base_jobs = _measure(sqlite_url, [source], messages, jobs, 1, env)
        baseline = {
            "sqlite_1_process_messages_per_s": round(base_ingest),
            "sqlite_1_process_jobs_per_s": round(base_jobs),
        }

        ingest_rates: dict[int, float] = {}
        job_rates: dict[int, float] = {}
        for processes in PROCESSES:
            name = f"allsang_scale_{uuid.uuid4().hex[:8]}"
            asyncio.run(_postgres_scratch(_libpq(admin), True, name))
            try:
                url = _with_database(admin, name)
                unique = uuid.uuid4().hex[:8]
                stream = f"nats://127.0.0.1:4222?stream=SCALE_{unique}&subject=scale.{unique}"
                env = _env(url, folder / f"pg-data-{processes}", stream)
                files = _split(source, processes, folder)
                ingest_rates[processes], job_rates[processes] = _measure(
                    url, files, messages, jobs, processes, env
                )
            finally:
                asyncio.run(_postgres_scratch(_libpq(admin), False, name))
            metrics[f"postgresql_{processes}_ingest_messages_per_s"] = round(
                ingest_rates[processes]
            )
            metrics[f"postgresql_{processes}_worker_jobs_per_s"] = round(job_rates[processes])
            metrics[f"postgresql_{processes}_ingest_vs_sqlite"] = round(
                ingest_rates[processes] / base_ingest, 2
            )
            metrics[f"postgresql_{processes}_jobs_vs_sqlite"] = round(
                job_rates[processes] / base_jobs, 2
            )
    notes = [
        "bottleneck, " + _bottleneck(ingest_rates, base_ingest, "ingest"),
        "bottleneck, " + _bottleneck(job_rates, base_jobs, "jobs"),
    ]
    return {"metrics": metrics, "baseline": baseline, "notes": notes}


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql+psycopg", database=name)
    return parsed.render_as_string(hide_password=False)
