"""Snooze: times in the person's zone, waking by time (the job) and by a new inbound message
(the ingest commit hook), the assignee's notification and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from allsang.authz import Actor
from allsang.connectors.base import RawItem
from allsang.db.models import AuditEvent, Conversation, Notification
from allsang.db.models.inbox_workflow import ConversationSnooze
from allsang.inbox import snooze
from allsang.inbox.actions import InvalidChange
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.live import InProcessBroadcast
from allsang.runtime import Runtime
from tests.inbox.seed import Seeded, seed
from tests.web.conftest import World, create_world

OSLO = snooze.zone("Europe/Oslo")


@pytest.fixture
async def world(runtime: Runtime) -> World:
    return await create_world(runtime)


@pytest.fixture
async def seeded(runtime: Runtime, world: World) -> Seeded:
    return await seed(runtime.db, world.workspace.id)


def editor(world: World) -> Actor:
    return Actor(
        kind="person",
        label="editor",
        workspace_id=world.workspace.id,
        role="editor",
        person_id=world.people["editor"].id,
    )


def test_a_local_time_is_read_in_the_persons_zone() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert snooze.parse_until("2026-12-24T09:00", OSLO, now) == datetime(
        2026, 12, 24, 8, 0, tzinfo=UTC
    )
    # Summer time in Oslo is UTC+2.
    assert snooze.parse_until("2027-06-01T09:00", OSLO, now) == datetime(
        2027, 6, 1, 7, 0, tzinfo=UTC
    )


def test_presets_are_wall_clock_mornings_across_a_clock_change() -> None:
    # Friday 27 March 2026, evening in Oslo; the clocks go forward on Sunday the 29th.
    now = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
    assert snooze.parse_until("tomorrow", OSLO, now) == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    assert snooze.parse_until("monday", OSLO, now) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert snooze.parse_until("later", OSLO, now) == now + timedelta(hours=3)


@pytest.mark.parametrize("value", ["2020-01-01T09:00", "2099-01-01T09:00", "soon", ""])
def test_the_past_far_future_and_nonsense_are_refused(value: str) -> None:
    with pytest.raises(InvalidChange):
        snooze.parse_until(value, OSLO, datetime(2026, 12, 4, 12, 0, tzinfo=UTC))


async def _snooze(runtime: Runtime, world: World, conversation_id: int, until: datetime) -> None:
    async with runtime.db.write() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        conversation.assignee_id = world.people["contributor"].id
        await snooze.snooze(session, editor(world), conversation, until)


async def test_a_due_conversation_wakes_open_on_top_and_tells_its_assignee(
    runtime: Runtime, world: World, seeded: Seeded
) -> None:
    first = seeded.conversations[0]
    until = datetime.now(UTC) + timedelta(hours=1)
    await _snooze(runtime, world, first.id, until)
    async with runtime.db.write() as session:
        assert await snooze.wake_due(session, until - timedelta(minutes=1)) == []
    async with runtime.db.write() as session:
        woken = await snooze.wake_due(session, until + timedelta(seconds=1))
    assert [c.id for c in woken] == [first.id]
    async with runtime.db.read() as session:
        row = await session.get(Conversation, first.id)
        newest = await session.scalar(
            select(Conversation.id).order_by(Conversation.last_message_at.desc()).limit(1)
        )
        notes = list(await session.scalars(select(Notification)))
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        left = await session.get(ConversationSnooze, first.id)
    assert row is not None and (row.status, row.snoozed_until) == ("open", None)
    assert newest == first.id  # back at the top of the list
    assert [(n.kind, n.person_id, n.conversation_id) for n in notes] == [
        ("snooze", world.people["contributor"].id, first.id)
    ]
    assert actions == ["conversation.snooze", "conversation.wake"]
    assert left is None
    async with runtime.db.write() as session:
        assert await snooze.wake_due(session, until + timedelta(hours=1)) == []


async def test_a_new_inbound_message_wakes_it_early_through_ingest(
    runtime: Runtime, world: World, seeded: Seeded
) -> None:
    first = seeded.conversations[0]
    await _snooze(runtime, world, first.id, datetime.now(UTC) + timedelta(days=2))
    broadcast = InProcessBroadcast()
    pipeline = Pipeline(runtime.db, on_commit=[snooze.commit_hook(runtime.db, broadcast)])
    channel = ChannelRef(seeded.channel.id, world.workspace.id, "mastodon")
    answer = RawItem(
        {
            "channel": "mastodon",
            "external_id": "555",
            "kind": "reply",
            "in_reply_to": "100",
            "author": {"handle": "anna@mastodon.example", "name": "Anna Berg"},
            "text": "Hallå? Någon där?",
            "created_at": datetime.now(UTC).isoformat(),
        }
    )
    await pipeline.ingest(channel, [answer])
    async with runtime.db.read() as session:
        row = await session.get(Conversation, first.id)
        notes = list(await session.scalars(select(Notification.kind)))
        wake = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "conversation.wake")
        )
    assert row is not None and row.status == "open"
    assert notes == ["snooze"]
    assert wake is not None and wake.data["reason"] == "message"


async def test_a_conversation_reopened_by_hand_is_forgotten_without_a_notification(
    runtime: Runtime, world: World, seeded: Seeded
) -> None:
    first = seeded.conversations[0]
    await _snooze(runtime, world, first.id, datetime.now(UTC) + timedelta(days=2))
    async with runtime.db.write() as session:
        row = await session.get(Conversation, first.id)
        assert row is not None
        row.status = "open"
    async with runtime.db.write() as session:
        assert await snooze.wake_due(session) == []
    async with runtime.db.read() as session:
        assert await session.get(ConversationSnooze, first.id) is None
        assert list(await session.scalars(select(Notification))) == []


async def test_waking_by_hand_opens_it_and_is_audited(
    runtime: Runtime, world: World, seeded: Seeded
) -> None:
    first = seeded.conversations[0]
    await _snooze(runtime, world, first.id, datetime.now(UTC) + timedelta(days=2))
    async with runtime.db.write() as session:
        row = await session.get(Conversation, first.id)
        assert row is not None
        await snooze.unsnooze(session, editor(world), row)
    async with runtime.db.read() as session:
        row = await session.get(Conversation, first.id)
        reason = await session.scalar(
            select(AuditEvent.data).where(AuditEvent.action == "conversation.wake")
        )
    assert row is not None and (row.status, row.snoozed_until) == ("open", None)
    assert reason == {"reason": "person"}
