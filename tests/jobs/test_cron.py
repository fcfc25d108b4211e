from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from allsang.db import Database
from allsang.db.models import Job
from allsang.jobs import Registry
from allsang.jobs.scheduler import Scheduler


async def _cron_jobs(db: Database) -> list[tuple[str, datetime, str | None]]:
    async with db.read() as session:
        rows = await session.execute(select(Job.kind, Job.run_at, Job.idempotency_key))
    return sorted(rows.all(), key=lambda row: (row[1], row[0]))


def test_the_latest_slot_is_at_or_before_now_and_the_next_one_after() -> None:
    schedule = Registry().cron("*/5 * * * *", "tick")
    on_slot = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
    assert schedule.latest_slot(on_slot) == on_slot
    assert schedule.latest_slot(on_slot.replace(minute=9, second=59)) == on_slot
    assert schedule.latest_slot(on_slot.replace(minute=4, second=59, microsecond=9)) == (
        on_slot.replace(minute=0)
    )
    assert schedule.next_slot(on_slot) == on_slot.replace(minute=10)
    assert schedule.idempotency_key(on_slot) == "cron:tick:2026-11-20T10:05:00+00:00"


def test_slots_follow_the_schedules_time_zone_across_daylight_saving_time() -> None:
    schedule = Registry().cron("0 9 * * *", "digest", name="digest", timezone="Europe/Stockholm")
    winter = schedule.next_slot(datetime(2026, 3, 27, 12, tzinfo=UTC))
    summer = schedule.next_slot(datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (8, 7)  # 09:00 CET, then 09:00 CEST, in UTC


def test_a_bad_expression_or_a_duplicate_name_fails_at_registration() -> None:
    registry = Registry()
    with pytest.raises(ValueError):
        registry.cron("61 * * * *", "tick")
    registry.cron("* * * * *", "tick")
    with pytest.raises(ValueError, match="already registered"):
        registry.cron("*/2 * * * *", "tick")


async def test_cron_enqueues_each_slot_once_even_with_two_schedulers_racing(
    db: Database, registry: Registry
) -> None:
    registry.cron("*/5 * * * *", "tick", {"source": "cron"})
    registry.cron("0 * * * *", "hourly", name="hourly")
    other = Database(db.url)
    try:
        schedulers = [Scheduler(d, registry.schedules.values()) for d in (db, other)]
        for minute in (1, 3, 5, 7, 10):
            now = datetime(2026, 11, 20, 10, minute, 30, tzinfo=UTC)
            added = await asyncio.gather(*(s.tick(now) for s in schedulers for _ in range(3)))
            assert sum(added) in (0, 1, 2)
    finally:
        await other.dispose()
    jobs = await _cron_jobs(db)
    assert [(kind, run_at.minute) for kind, run_at, _ in jobs] == [
        ("hourly", 0),
        ("tick", 0),
        ("tick", 5),
        ("tick", 10),
    ]
    assert jobs[-1][2] == "cron:tick:2026-11-20T10:10:00+00:00"


async def test_missed_slots_are_not_back_filled_beyond_the_latest_one(
    db: Database, registry: Registry
) -> None:
    registry.cron("*/5 * * * *", "tick")
    scheduler = Scheduler(db, registry.schedules.values())
    await scheduler.tick(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    # No worker ran for two hours.
    await scheduler.tick(datetime(2026, 11, 20, 12, 2, tzinfo=UTC))
    assert [run_at.strftime("%H:%M") for _, run_at, _ in await _cron_jobs(db)] == [
        "10:00",
        "12:00",
    ]


async def test_the_scheduler_loop_enqueues_the_current_slot_and_stops(
    db: Database, registry: Registry
) -> None:
    registry.cron("* * * * *", "tick")
    stop = asyncio.Event()
    task = asyncio.create_task(Scheduler(db, registry.schedules.values()).run(stop))
    for _ in range(250):
        if await _cron_jobs(db):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 2)
    [(kind, run_at, _)] = await _cron_jobs(db)
    assert kind == "tick" and run_at <= datetime.now(UTC)
