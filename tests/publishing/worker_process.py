"""A job worker process with the publishing handlers, for the kill tests.

    python tests/publishing/worker_process.py DATABASE_URL SECRET_KEY DATA_DIR

Runs :class:`allsang.jobs.Worker` with a two-second lease until SIGTERM (or SIGKILL).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import allsang.publishing.jobs  # noqa: F401  (registers the handlers)
from allsang.db import Database
from allsang.jobs import Worker
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings


def main() -> None:
    url, key, data_dir = sys.argv[1:4]
    settings = Settings(
        database_url=url,
        secret_keys=key,
        data_dir=Path(data_dir),
        job_lease_seconds=2,
        worker_concurrency=2,
        worker_poll_seconds=0.05,
    )

    async def run() -> None:
        db = Database(settings.sqlalchemy_url)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await Worker(Runtime(settings, db, SecretBox([key]))).run(stop)
        finally:
            await db.dispose()

    asyncio.run(run())


if __name__ == "__main__":
    main()
