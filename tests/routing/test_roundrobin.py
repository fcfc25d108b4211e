"""Round-robin: fair turns among the people on duty, safe across processes."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from allsang.db import Database
from allsang.db.models import Conversation, Person
from allsang.db.models.continuity import Absence, DutyShift
from allsang.db.models.routing import RoundRobinCounter, RoutingRule
from allsang.ingest.pipeline import Pipeline
from allsang.routing.roundrobin import eligible, next_assignee, take_turns
from allsang.settings import Settings
from tests.routing.conftest import Place, dm

MONDAY_NOON = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)  # 12:00 in Stockholm


async def take(db: Database, department_id: int, at: datetime = MONDAY_NOON) -> int | None:
    async with db.write() as session:
        return await next_assignee(session, department_id, at)


async def test_turns_go_round_the_department_members_in_order(db: Database, place: Place) -> None:
    ada, bo, cy = (place.people[n] for n in ("ada", "bo", "cy"))
    assert [await take(db, place.support) for _ in range(7)] == [ada, bo, cy, ada, bo, cy, ada]
    assert [await take(db, place.sales) for _ in range(2)] == [place.people["dag"]] * 2


async def test_a_batch_takes_consecutive_turns_and_the_next_batch_carries_on(
    db: Database, place: Place
) -> None:
    ada, bo, cy = (place.people[n] for n in ("ada", "bo", "cy"))
    async with db.write() as session:
        assert await take_turns(session, place.support, 5, MONDAY_NOON) == [ada, bo, cy, ada, bo]
    async with db.write() as session:
        assert await take_turns(session, place.support, 2, MONDAY_NOON) == [cy, ada]
        counter = await session.get(RoundRobinCounter, place.support)
        assert counter is not None and counter.turn == 7


async def test_people_out_of_office_or_inactive_are_skipped_and_return_first(
    db: Database, place: Place
) -> None:
    ada, bo, cy = (place.people[n] for n in ("ada", "bo", "cy"))
    async with db.write() as session:
        session.add(
            Absence(
                workspace_id=place.workspace_id,
                person_id=bo,
                starts_at=MONDAY_NOON - timedelta(days=1),
                ends_at=MONDAY_NOON + timedelta(hours=1),
                state="active",
            )
        )
        person = await session.get(Person, cy)
        assert person is not None
        person.is_active = False
    assert [await take(db, place.support) for _ in range(3)] == [ada, ada, ada]
    # Back from the absence, Bo has waited longest and gets the next two turns' first.
    later = MONDAY_NOON + timedelta(hours=2)
    assert [await take(db, place.support, later) for _ in range(3)] == [bo, ada, bo]


async def test_with_a_rota_only_the_people_on_duty_take_turns(db: Database, place: Place) -> None:
    ada, bo = place.people["ada"], place.people["bo"]
    async with db.write() as session:
        for person, start, end in [(ada, 8 * 60, 12 * 60), (bo, 12 * 60, 17 * 60)]:
            session.add(
                DutyShift(
                    workspace_id=place.workspace_id,
                    department_id=place.support,
                    person_id=person,
                    weekday=0,
                    start_minute=start,
                    end_minute=end,
                )
            )
    async with db.read() as session:
        assert await eligible(session, place.support, MONDAY_NOON) == [bo]
        assert await eligible(session, place.support, MONDAY_NOON - timedelta(hours=1)) == [ada]
        assert await eligible(session, place.support, MONDAY_NOON + timedelta(hours=9)) == []
    assert await take(db, place.support, MONDAY_NOON + timedelta(hours=9)) is None
    async with db.read() as session:
        assert await session.get(RoundRobinCounter, place.support) is None  # no turn used


async def test_two_processes_assigning_at_once_never_share_a_turn(
    settings: Settings, place: Place
) -> None:
    # Two Database objects are two connection pools, as two ingest processes would have.
    first, second = Database(settings.sqlalchemy_url), Database(settings.sqlalchemy_url)
    try:
        chosen = await asyncio.gather(
            *(take(db, place.support) for _ in range(15) for db in (first, second))
        )
        async with first.read() as session:
            counter = await session.get(RoundRobinCounter, place.support)
    finally:
        await first.dispose()
        await second.dispose()
    assert counter is not None and counter.turn == 30
    assert Counter(chosen) == {place.people[n]: 10 for n in ("ada", "bo", "cy")}


async def test_a_round_robin_rule_assigns_ingested_conversations_in_turn(
    db: Database, place: Place, pipeline: Pipeline
) -> None:
    async with db.write() as session:
        session.add(
            RoutingRule(
                workspace_id=place.workspace_id,
                name="support",
                department_id=place.support,
                round_robin=True,
            )
        )
    handles = [f"@p{i}@example.social" for i in range(4)]
    items = [dm(str(i), "Hej", handle=h) for i, h in enumerate(handles)]
    await pipeline.ingest(place.channel, items)
    async with db.read() as session:
        assignees = list(
            await session.scalars(select(Conversation.assignee_id).order_by(Conversation.id))
        )
    ada, bo, cy = (place.people[n] for n in ("ada", "bo", "cy"))
    assert assignees == [ada, bo, cy, ada]
