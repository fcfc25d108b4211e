"""A job worker process for the multi-process tests.

    python tests/jobs/worker_process.py DATABASE_URL LOG_FILE [--lease S] [--hang]

Registers two test handlers and runs :class:`allsang.jobs.Worker` until SIGTERM. Every
execution appends one line ``<event> <job id> <worker id> <attempt>`` to LOG_FILE with a
single O_APPEND write, which is atomic between processes for lines this short. ``--hang``
makes the ``block`` handler sleep for an hour (to be killed mid-job).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from allsang.db import Database
from allsang.jobs import JobContext, Registry, Worker
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox, generate_key
from allsang.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("log_file")
    parser.add_argument("--lease", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    log = os.open(args.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(event: str, ctx: JobContext) -> None:
        os.write(log, f"{event} {ctx.job_id} {ctx.worker_id} {ctx.attempt}\n".encode())

    registry = Registry()

    @registry.handler("record")
    async def record(ctx: JobContext, payload: dict[str, Any]) -> None:
        write("run", ctx)

    @registry.handler("block")
    async def block(ctx: JobContext, payload: dict[str, Any]) -> None:
        write("start", ctx)
        if args.hang:
            await asyncio.sleep(3600)
        write("end", ctx)

    key = generate_key()
    settings = Settings(
        database_url=args.database_url,
        secret_keys=key,
        job_lease_seconds=args.lease,
        worker_concurrency=args.concurrency,
        worker_poll_seconds=0.02,
    )

    async def run() -> None:
        db = Database(settings.sqlalchemy_url)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        worker = Worker(Runtime(settings, db, SecretBox([key])), registry=registry)
        os.write(log, f"ready - {worker.worker_id} -\n".encode())
        try:
            await worker.run(stop)
        finally:
            await db.dispose()

    asyncio.run(run())


if __name__ == "__main__":
    main()
