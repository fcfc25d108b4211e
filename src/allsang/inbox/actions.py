"""Changes people make to a conversation. Each writes an audit event in the caller's
transaction; the caller commits and then publishes a live hint.

Every loader filters on the workspace: a conversation of another workspace is "not found".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor
from allsang.db.models import (
    CONVERSATION_STATUSES,
    PRIORITIES,
    Conversation,
    ConversationRead,
    ConversationTag,
    Department,
    Membership,
    Message,
    Notification,
    Person,
    Tag,
)
from allsang.db.types import utcnow

MAX_NOTE = 10_000
MAX_TAG = 100
# "@anna" or "@anna.berg": the local part of a member's e-mail address.
MENTION = re.compile(r"(?<![\w@.])@([\w.+-]{1,64})", re.UNICODE)


class NotFound(LookupError):
    """No such conversation (or person, department) in this workspace."""


class InvalidChange(ValueError):
    """A value the conversation cannot take (unknown status, empty note, …)."""


async def load(session: AsyncSession, workspace_id: int, conversation_id: int) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.workspace_id != workspace_id:
        raise NotFound(conversation_id)
    return conversation


def _touch(conversation: Conversation) -> None:
    # Some changes (tags, notes) do not alter a column of the conversation itself; bumping
    # updated_at gives live pages a new Last-Event-ID position for them too.
    conversation.updated_at = utcnow()


async def members(session: AsyncSession, workspace_id: int) -> list[Person]:
    result = await session.scalars(
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.role != "display",
            Person.is_active.is_(True),
        )
        .order_by(Person.name)
    )
    return list(result)


async def assign(
    session: AsyncSession, actor: Actor, conversation: Conversation, person_id: int | None
) -> None:
    """Give the conversation to a member of its workspace (``None``: unassign)."""
    if person_id is not None:
        member = await session.scalar(
            select(Membership.id).where(
                Membership.workspace_id == conversation.workspace_id,
                Membership.person_id == person_id,
                Membership.role != "display",
            )
        )
        if member is None:
            raise NotFound(person_id)
    if conversation.assignee_id == person_id:
        return
    before = conversation.assignee_id
    conversation.assignee_id = person_id
    if person_id is not None and conversation.status == "new":
        conversation.status = "open"
    audit.record(
        session,
        actor,
        "conversation.assign",
        "conversation",
        conversation.id,
        workspace_id=conversation.workspace_id,
        before=before,
        after=person_id,
    )


async def set_field(
    session: AsyncSession, actor: Actor, conversation: Conversation, name: str, value: str
) -> None:
    """Change ``status``, ``priority`` or ``department`` (a department id, or "" for none)."""
    if name == "status":
        if value not in CONVERSATION_STATUSES:
            raise InvalidChange(value)
        new: object = value
    elif name == "priority":
        if value not in PRIORITIES:
            raise InvalidChange(value)
        new = value
    elif name == "department":
        if value == "":
            new = None
        else:
            department = await session.get(Department, int(value)) if value.isdigit() else None
            if department is None or department.workspace_id != conversation.workspace_id:
                raise NotFound(value)
            new = department.id
    else:
        raise InvalidChange(name)
    column = "department_id" if name == "department" else name
    before = getattr(conversation, column)
    if before == new:
        return
    setattr(conversation, column, new)
    audit.record(
        session,
        actor,
        f"conversation.{name}",
        "conversation",
        conversation.id,
        workspace_id=conversation.workspace_id,
        before=before,
        after=new,
    )


def parse_tags(text: str) -> list[str]:
    """Tags as typed: comma-separated, trimmed, case kept, duplicates (ignoring case) dropped."""
    seen: dict[str, str] = {}
    for part in text.split(","):
        name = " ".join(part.split())[:MAX_TAG]
        if name and name.casefold() not in seen:
            seen[name.casefold()] = name
    return list(seen.values())


async def set_tags(
    session: AsyncSession, actor: Actor, conversation: Conversation, names: Sequence[str]
) -> None:
    """Make the conversation's tags exactly ``names`` (creating workspace tags as needed)."""
    existing = {
        tag.name.casefold(): tag
        for tag in await session.scalars(
            select(Tag).where(Tag.workspace_id == conversation.workspace_id)
        )
    }
    wanted: list[Tag] = []
    for name in names:
        tag = existing.get(name.casefold())
        if tag is None:
            tag = Tag(workspace_id=conversation.workspace_id, name=name)
            session.add(tag)
            await session.flush()
            existing[name.casefold()] = tag
        wanted.append(tag)
    current = set(
        await session.scalars(
            select(ConversationTag.tag_id).where(ConversationTag.conversation_id == conversation.id)
        )
    )
    wanted_ids = {tag.id for tag in wanted}
    if current == wanted_ids:
        return
    await session.execute(
        delete(ConversationTag).where(
            ConversationTag.conversation_id == conversation.id,
            ConversationTag.tag_id.not_in(wanted_ids),
        )
    )
    for tag_id in wanted_ids - current:
        session.add(ConversationTag(conversation_id=conversation.id, tag_id=tag_id))
    _touch(conversation)
    audit.record(
        session,
        actor,
        "conversation.tags",
        "conversation",
        conversation.id,
        workspace_id=conversation.workspace_id,
        tags=sorted(tag.name for tag in wanted),
    )


async def add_note(
    session: AsyncSession, actor: Actor, conversation: Conversation, text: str
) -> Message:
    """An internal note (never sent anywhere). Members mentioned as ``@local-part`` of their
    e-mail address get a ``mention`` notification (not the author)."""
    text = text.strip()
    if not text or len(text) > MAX_NOTE:
        raise InvalidChange("note")
    note = Message(
        workspace_id=conversation.workspace_id,
        channel_id=None,
        conversation_id=conversation.id,
        author_person_id=actor.person_id,
        direction="note",
        kind="comment",
        text=text,
    )
    session.add(note)
    await session.flush()
    mentioned = {name.rstrip(".").casefold() for name in MENTION.findall(text)}
    notified = []
    if mentioned:
        for person in await members(session, conversation.workspace_id):
            local = person.email.split("@", 1)[0].casefold()
            if local in mentioned and person.id != actor.person_id:
                session.add(
                    Notification(
                        workspace_id=conversation.workspace_id,
                        person_id=person.id,
                        kind="mention",
                        actor_person_id=actor.person_id,
                        conversation_id=conversation.id,
                        message_id=note.id,
                    )
                )
                notified.append(person.id)
    _touch(conversation)
    audit.record(
        session,
        actor,
        "conversation.note",
        "conversation",
        conversation.id,
        workspace_id=conversation.workspace_id,
        message_id=note.id,
        mentioned=notified,
    )
    return note


async def mark_read(session: AsyncSession, person_id: int, conversation: Conversation) -> None:
    """Remember that the person has read the conversation up to now (not audited: not a
    change to shared state)."""
    # Two tabs of one person may mark the same conversation at once: an upsert, not get+add.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = utcnow()
    await session.execute(
        insert(ConversationRead)
        .values(person_id=person_id, conversation_id=conversation.id, read_at=now)
        .on_conflict_do_update(
            index_elements=["person_id", "conversation_id"], set_={"read_at": now}
        )
    )
    await session.execute(
        Notification.__table__.update()
        .where(
            Notification.person_id == person_id,
            Notification.conversation_id == conversation.id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )


@dataclass(slots=True)
class NotificationItem:
    notification: Notification
    actor_name: str
    subject: str


async def unread_notifications(
    session: AsyncSession, workspace_id: int, person_id: int, limit: int = 20
) -> list[NotificationItem]:
    result = await session.execute(
        select(Notification, Person.name, Conversation.subject)
        .outerjoin(Person, Person.id == Notification.actor_person_id)
        .outerjoin(Conversation, Conversation.id == Notification.conversation_id)
        .where(
            Notification.workspace_id == workspace_id,
            Notification.person_id == person_id,
            Notification.read_at.is_(None),
        )
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return [NotificationItem(n, name or "", subject or "") for n, name, subject in result.all()]
