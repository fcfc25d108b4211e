"""Retention policies: what goes when, and what always stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from allsang.db.models import AuditEvent, Conversation, Message, Workspace
from allsang.db.types import utcnow
from allsang.privacy.retention import apply_retention
from allsang.runtime import Runtime
from tests.privacy.history import build


async def _policy(runtime: Runtime, workspace_id: int, **days: int) -> None:
    async with runtime.db.write() as session:
        workspace = await session.get_one(Workspace, workspace_id)
        workspace.settings = {**workspace.settings, "retention": days}


async def _count(runtime: Runtime, model: type) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_closed_conversations_older_than_the_inbox_limit_go_with_their_messages(
    runtime: Runtime,
) -> None:
    now = utcnow()
    history = await build(runtime, now, age=timedelta(days=400))
    await _policy(runtime, history.workspace_id, inbox_days=365)

    assert await apply_retention(runtime.db, history.workspace_id, dry_run=True) == {
        "conversations": 2,
        "messages": 7,
        "audit_events": 0,
    }
    assert await _count(runtime, Message) == 7  # a dry run deletes nothing

    counts = await apply_retention(runtime.db, history.workspace_id)
    assert counts == {"conversations": 2, "messages": 7, "audit_events": 0}
    assert await _count(runtime, Conversation) == 0
    assert await _count(runtime, Message) == 0


async def test_young_open_or_unlimited_conversations_stay(runtime: Runtime) -> None:
    now = utcnow()
    history = await build(runtime, now, age=timedelta(days=100))
    async with runtime.db.write() as session:
        olas = await session.get_one(Conversation, history.olas_conversation)
        olas.status = "open"
        olas.last_message_at = now - timedelta(days=1000)
    await _policy(runtime, history.workspace_id, inbox_days=365)
    assert await apply_retention(runtime.db, history.workspace_id) == {
        "conversations": 0,
        "messages": 0,
        "audit_events": 0,
    }
    await _policy(runtime, history.workspace_id)  # keep forever
    assert (await apply_retention(runtime.db, history.workspace_id))["conversations"] == 0


async def test_listening_data_is_what_the_team_never_touched(runtime: Runtime) -> None:
    now = utcnow()
    history = await build(runtime, now, age=timedelta(days=40))
    async with runtime.db.write() as session:
        # Ola's thread becomes pure listening: no reply, no note, nobody assigned.
        await session.execute(
            Message.__table__.delete().where(
                Message.conversation_id == history.olas_conversation,
                Message.direction != "inbound",
            )
        )
    await _policy(runtime, history.workspace_id, listening_days=30)
    counts = await apply_retention(runtime.db, history.workspace_id)
    assert counts == {"conversations": 1, "messages": 2, "audit_events": 0}
    async with runtime.db.read() as session:
        assert await session.get(Conversation, history.olas_conversation) is None
        assert await session.get(Conversation, history.karis_conversation) is not None


async def test_old_audit_events_go_and_the_run_itself_is_audited(runtime: Runtime) -> None:
    history = await build(runtime, utcnow())
    async with runtime.db.write() as session:
        for days in (10, 200):
            session.add(
                AuditEvent(
                    workspace_id=history.workspace_id,
                    actor="someone",
                    action="person.update",
                    resource_type="person",
                    created_at=utcnow() - timedelta(days=days),
                )
            )
    await _policy(runtime, history.workspace_id, audit_days=90)
    assert (await apply_retention(runtime.db, history.workspace_id))["audit_events"] == 1
    async with runtime.db.read() as session:
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["person.update", "retention.apply"]
