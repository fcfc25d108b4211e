"""Snoozing a conversation until a time, and waking it up.

* :func:`snooze` sets ``status = "snoozed"`` and ``snoozed_until`` and remembers who snoozed it
  and when (``conversation_snooze``), with a ``conversation.snooze`` audit event.
* :func:`wake_due` (the ``inbox.wake`` job, every minute, and the ingest commit hook) wakes:

  - conversations whose ``snoozed_until`` has passed: back to ``open``, ``last_message_at``
    moved to now so they are at the top of the list again;
  - conversations the ingest pipeline has already reopened because a new inbound message
    arrived before the time (the pipeline does that in its own transaction).

  Either way the assignee gets a ``snooze`` notification and a ``conversation.wake`` audit
  event names the reason (``time`` or ``message``). A conversation reopened by a person
  (status changed by hand) is only forgotten, without a notification.
* Times people type are wall-clock times in *their* time zone (the person's, else the
  workspace's): :func:`parse_until` turns them into UTC instants.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor
from allsang.db import Database
from allsang.db.models import Conversation, Message, Notification
from allsang.db.models.inbox_workflow import ConversationSnooze
from allsang.db.types import utcnow
from allsang.inbox.actions import InvalidChange
from allsang.ingest.pipeline import ChannelRef, CommitHook
from allsang.live import Broadcast, publish_conversations

JOB_KIND = "inbox.wake"
WAKER = Actor(kind="system", label="snooze")
MAX_SNOOZE = timedelta(days=366)
PRESETS = ("later", "tomorrow", "monday", "week")
MORNING = time(9, 0)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def preset_until(preset: str, tz: ZoneInfo, now: datetime) -> datetime:
    """``later``: in 3 hours; ``tomorrow``: 09:00 tomorrow; ``monday``: 09:00 next Monday;
    ``week``: in 7 days at 09:00 — wall-clock times in ``tz``."""
    local = now.astimezone(tz)
    if preset == "later":
        return now + timedelta(hours=3)
    if preset == "tomorrow":
        day = local.date() + timedelta(days=1)
    elif preset == "monday":
        day = local.date() + timedelta(days=7 - local.weekday())
    elif preset == "week":
        day = local.date() + timedelta(days=7)
    else:
        raise InvalidChange(preset)
    return datetime.combine(day, MORNING, tzinfo=tz).astimezone(UTC)


def parse_until(value: str, tz: ZoneInfo, now: datetime | None = None) -> datetime:
    """A preset name or a ``datetime-local`` value (``2026-12-24T09:00``) in ``tz``, as UTC.
    Raises :class:`InvalidChange` for anything else, for the past, or beyond a year."""
    now = now or utcnow()
    value = value.strip()
    if value in PRESETS:
        until = preset_until(value, tz, now)
    else:
        try:
            local = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidChange(value) from None
        if local.tzinfo is None:
            # fold=0: an ambiguous autumn hour means its first occurrence.
            local = local.replace(tzinfo=tz)
        until = local.astimezone(UTC)
    if until <= now or until - now > MAX_SNOOZE:
        raise InvalidChange(value)
    return until


async def snooze(
    session: AsyncSession, actor: Actor, conversation: Conversation, until: datetime
) -> None:
    before = conversation.status
    conversation.status = "snoozed"
    conversation.snoozed_until = until
    conversation.updated_at = utcnow()
    row = await session.get(ConversationSnooze, conversation.id)
    if row is None:
        row = ConversationSnooze(conversation_id=conversation.id)
        session.add(row)
    row.person_id = actor.person_id
    row.snoozed_at = utcnow()
    audit.record(
        session,
        actor,
        "conversation.snooze",
        "conversation",
        conversation.id,
        workspace_id=conversation.workspace_id,
        before=before,
        until=until.isoformat(),
    )


async def unsnooze(session: AsyncSession, actor: Actor, conversation: Conversation) -> None:
    """Wake it now, by hand (no notification: the person doing it knows)."""
    row = await session.get(ConversationSnooze, conversation.id)
    if row is not None:
        await session.delete(row)
    if conversation.status != "snoozed":
        return
    conversation.status = "open"
    conversation.snoozed_until = None
    conversation.updated_at = utcnow()
    audit.record(
        session,
        actor,
        "conversation.wake",
        "conversation",
        conversation.id,
        workspace_id=conversation.workspace_id,
        reason="person",
    )


def _due(now: datetime) -> ColumnElement[bool]:
    """Snoozes to end: the conversation was reopened (by a message or a person), or its time
    has come."""
    return (
        (Conversation.status != "snoozed")
        | (Conversation.snoozed_until.is_(None))
        | (Conversation.snoozed_until <= now)
    )


async def wake_due(session: AsyncSession, now: datetime | None = None) -> list[Conversation]:
    """Wake what is due (see the module docstring); returns the conversations woken, for
    live hints after the caller commits."""
    now = now or utcnow()
    rows = await session.execute(
        select(ConversationSnooze, Conversation)
        .join(Conversation, Conversation.id == ConversationSnooze.conversation_id)
        .where(_due(now))
        .order_by(ConversationSnooze.conversation_id)
        .limit(1000)
    )
    woken: list[Conversation] = []
    for snoozed, conversation in rows.all():
        await session.delete(snoozed)
        if conversation.status == "snoozed":
            reason = "time"
            conversation.status = "open"
            conversation.snoozed_until = None
            conversation.last_message_at = max(conversation.last_message_at or now, now)
            conversation.updated_at = now
        else:
            answered_by_contact = await session.scalar(
                select(
                    exists().where(
                        Message.conversation_id == conversation.id,
                        Message.direction == "inbound",
                        Message.received_at > snoozed.snoozed_at,
                    )
                )
            )
            if not answered_by_contact:
                continue  # reopened by a person: nothing to tell
            reason = "message"
        if conversation.assignee_id is not None:
            session.add(
                Notification(
                    workspace_id=conversation.workspace_id,
                    person_id=conversation.assignee_id,
                    kind="snooze",
                    conversation_id=conversation.id,
                )
            )
        audit.record(
            session,
            WAKER,
            "conversation.wake",
            "conversation",
            conversation.id,
            workspace_id=conversation.workspace_id,
            reason=reason,
        )
        woken.append(conversation)
    return woken


async def wake(db: Database, broadcast: Broadcast) -> int:
    """Run :func:`wake_due` in its own transaction and announce what woke; returns how many."""
    async with db.read() as session:
        # A read first: this runs after every ingest batch, and almost always finds nothing
        # (a write transaction would queue behind the next batch for no work).
        anything = await session.scalar(
            select(
                exists()
                .where(Conversation.id == ConversationSnooze.conversation_id)
                .where(_due(utcnow()))
            )
        )
    if not anything:
        return 0
    async with db.write() as session:
        woken = await wake_due(session)
    await publish_conversations(broadcast, woken)
    return len(woken)


def commit_hook(db: Database, broadcast: Broadcast) -> CommitHook:
    """An ingest ``on_commit`` hook: tell assignees at once when a new message reopened a
    snoozed conversation (the ``inbox.wake`` job would find it within a minute anyway)."""

    async def hook(channel: ChannelRef, message_ids: list[int]) -> None:
        if message_ids:
            await wake(db, broadcast)

    return hook
