"""SLA due times in business hours, kept current by ingest and the sweep; breach notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from allsang.db import Database
from allsang.db.models import Alert, Conversation, Notification
from allsang.db.models.routing import DepartmentHours, RoutingRule, SlaTarget
from allsang.ingest.pipeline import Pipeline
from allsang.routing import sla
from allsang.routing.jobs import sweep
from allsang.runtime import Runtime
from tests.routing.conftest import Place, dm

STOCKHOLM = ZoneInfo("Europe/Stockholm")
OFFICE = {str(d): [["08:00", "17:00"]] for d in range(5)}


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=STOCKHOLM)  # type: ignore[misc]


async def setup_support(db: Database, place: Place, *, assign_to: str | None = "ada") -> None:
    async with db.write() as session:
        session.add(
            DepartmentHours(
                department_id=place.support,
                timezone="Europe/Stockholm",
                weekly=OFFICE,
                closed_dates=["2026-12-24"],
            )
        )
        session.add(
            SlaTarget(
                department_id=place.support,
                priority="",
                first_response_minutes=60,
                next_response_minutes=30,
            )
        )
        session.add(
            SlaTarget(department_id=place.support, priority="urgent", first_response_minutes=15)
        )
        session.add(
            RoutingRule(
                workspace_id=place.workspace_id,
                name="support",
                department_id=place.support,
                person_id=None if assign_to is None else place.people[assign_to],
            )
        )


async def the_conversation(db: Database) -> Conversation:
    async with db.read() as session:
        conversation = await session.scalar(select(Conversation))
    assert conversation is not None
    return conversation


async def test_the_first_response_is_due_after_a_target_in_business_hours(
    db: Database, place: Place, pipeline: Pipeline
) -> None:
    await setup_support(db, place)
    friday_evening = local(2026, 12, 4, 16, 30).isoformat()
    await pipeline.ingest(place.channel, [dm("1", "Hej", created_at=friday_evening)])
    conversation = await the_conversation(db)
    assert conversation.department_id == place.support
    # 30 minutes on Friday, 30 more from Monday's opening.
    assert conversation.sla_due_at == local(2026, 12, 7, 8, 30)
    assert conversation.sla_breached_at is None
    now = local(2026, 12, 7, 8, 10)
    assert sla.state(conversation, now) == "due_soon"
    assert sla.state(conversation, now - timedelta(days=1)) == "on_track"


async def test_a_priority_target_overrides_the_department_default(
    db: Database, place: Place, pipeline: Pipeline
) -> None:
    await setup_support(db, place)
    async with db.write() as session:
        rule = await session.scalar(select(RoutingRule))
        assert rule is not None
        rule.priority = "urgent"
    monday = local(2026, 12, 7, 10, 0).isoformat()
    await pipeline.ingest(place.channel, [dm("1", "Hej", created_at=monday)])
    assert (await the_conversation(db)).sla_due_at == local(2026, 12, 7, 10, 15)


async def test_a_reply_clears_the_clock_and_the_next_message_starts_the_next_response_target(
    db: Database, place: Place, pipeline: Pipeline, runtime: Runtime
) -> None:
    await setup_support(db, place)
    await pipeline.ingest(
        place.channel, [dm("1", "Hej", created_at=local(2026, 12, 7, 10).isoformat())]
    )
    async with db.write() as session:  # what the inbox's reply does
        conversation = await session.scalar(select(Conversation))
        assert conversation is not None
        conversation.first_reply_at = local(2026, 12, 7, 10, 20)
        conversation.waiting_since = None
    await sweep(db, runtime.secrets, now=local(2026, 12, 7, 10, 21))
    assert (await the_conversation(db)).sla_due_at is None
    evening = local(2026, 12, 7, 16, 50).isoformat()
    await pipeline.ingest(place.channel, [dm("2", "Tack, en sak till", created_at=evening)])
    # 10 minutes before closing, 20 after Tuesday's opening.
    assert (await the_conversation(db)).sla_due_at == local(2026, 12, 8, 8, 20)


async def test_the_sweep_marks_a_breach_once_and_notifies_assignee_and_department(
    db: Database, place: Place, pipeline: Pipeline, runtime: Runtime
) -> None:
    await setup_support(db, place)
    await pipeline.ingest(
        place.channel, [dm("1", "Hej", created_at=local(2026, 12, 7, 10).isoformat())]
    )
    assert await sweep(db, runtime.secrets, now=local(2026, 12, 7, 10, 59)) == 0
    assert await sweep(db, runtime.secrets, now=local(2026, 12, 7, 11, 1)) == 1
    assert await sweep(db, runtime.secrets, now=local(2026, 12, 7, 11, 2)) == 0
    conversation = await the_conversation(db)
    assert conversation.sla_breached_at == local(2026, 12, 7, 11, 0)
    assert sla.state(conversation, local(2026, 12, 7, 11, 1)) == "breached"
    async with db.read() as session:
        notified = list(
            await session.scalars(
                select(Notification.person_id).where(Notification.kind == "sla_breach")
            )
        )
        alerts = list(await session.scalars(select(Alert)))
    assert sorted(notified) == sorted(place.people[n] for n in ("ada", "bo", "cy"))
    assert [(a.kind, a.data["conversation_id"]) for a in alerts] == [
        ("sla_breach", conversation.id)
    ]


async def test_a_department_moved_to_by_hand_gets_a_due_time_from_the_sweep(
    db: Database, place: Place, pipeline: Pipeline, runtime: Runtime
) -> None:
    await setup_support(db, place)
    async with db.write() as session:
        for rule in await session.scalars(select(RoutingRule)):
            await session.delete(rule)
    await pipeline.ingest(
        place.channel, [dm("1", "Hej", created_at=local(2026, 12, 7, 10).isoformat())]
    )
    assert (await the_conversation(db)).sla_due_at is None
    async with db.write() as session:
        conversation = await session.scalar(select(Conversation))
        assert conversation is not None
        conversation.department_id = place.support
    await sweep(db, runtime.secrets, now=datetime(2026, 12, 7, 9, 30, tzinfo=UTC))
    assert (await the_conversation(db)).sla_due_at == local(2026, 12, 7, 11)
