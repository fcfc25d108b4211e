"""The cron scheduler: turns due slots of the registered schedules into jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from allsang.db import Database
from allsang.db.types import utcnow
from allsang.jobs.enqueue import enqueue
from allsang.jobs.registry import Schedule

log = logging.getLogger("allsang.jobs")

# Sleep at most this long between ticks, so a wall-clock jump (suspend, NTP step) is noticed
# within a minute rather than at the slot computed before it.
MAX_TICK_SECONDS = 60.0


class Scheduler:
    """Enqueues each schedule's latest due slot; safe to run in every worker at once."""

    def __init__(
        self,
        db: Database,
        schedules: Iterable[Schedule],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.schedules = list(schedules)
        self.clock = clock

    async def tick(self, now: datetime) -> int:
        """Enqueue the latest slot at or before ``now`` of every schedule; return how many
        were new. Slots already enqueued (by this or any other worker) are skipped through
        their idempotency keys, so racing schedulers enqueue each slot once."""
        added = 0
        async with self.db.write() as session:
            for schedule in self.schedules:
                slot = schedule.latest_slot(now)
                job_id = await enqueue(
                    session,
                    schedule.kind,
                    schedule.payload,
                    run_at=slot,
                    idempotency_key=schedule.idempotency_key(slot),
                )
                added += job_id is not None
        return added

    async def run(self, stop: asyncio.Event) -> None:
        """Tick at each slot until ``stop`` is set."""
        if not self.schedules:
            return
        while not stop.is_set():
            now = self.clock()
            try:
                await self.tick(now)
            except (SQLAlchemyError, OSError):
                log.exception("cron scheduler could not enqueue due slots; will retry")
            next_slot = min(schedule.next_slot(now) for schedule in self.schedules)
            delay = min(max((next_slot - self.clock()).total_seconds(), 0.01), MAX_TICK_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
