"""Routing applied to stored messages, inside the write transaction that stores them.

:func:`route_stored` is called by the ingest pipeline (every pipeline: polling, streaming,
webhook and the messages API) right after a batch is stored, in the same transaction, so a
message is never stored without being routed. For each new *inbound* message that belongs to
a conversation, in id order:

* a conversation opened by this batch gets every action of the matching rules: department,
  person (or the next person by round-robin in the department), tags and priority;
* an existing conversation only gets tags and a *higher* priority from a new message (a later
  angry message escalates; it does not take the conversation from whoever has it).

Then the SLA due time of every touched conversation is recomputed (:mod:`.sla`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor
from allsang.db.dialect import insert_ignoring_conflicts
from allsang.db.models import (
    PRIORITIES,
    Channel,
    Contact,
    Conversation,
    ConversationTag,
    Department,
    Membership,
    Message,
    Person,
)
from allsang.db.models.routing import RoutingRule, SlaTarget
from allsang.db.types import utcnow
from allsang.routing import sla
from allsang.routing.roundrobin import next_assignee
from allsang.routing.rules import Actions, RuleBook, Subject


def routing_actor(workspace_id: int) -> Actor:
    return Actor(kind="system", label="routing", workspace_id=workspace_id)


async def route_stored(
    session: AsyncSession,
    workspace_id: int,
    message_ids: Sequence[int],
    now: datetime | None = None,
) -> None:
    """Apply the workspace's rules and SLA targets to freshly stored messages (see module)."""
    if not message_ids:
        return
    rules = list(
        await session.scalars(
            select(RoutingRule).where(
                RoutingRule.workspace_id == workspace_id, RoutingRule.enabled.is_(True)
            )
        )
    )
    has_targets = (
        await session.scalar(
            select(SlaTarget.id)
            .join(Department, Department.id == SlaTarget.department_id)
            .where(Department.workspace_id == workspace_id)
            .limit(1)
        )
        is not None
    )
    if not rules and not has_targets:
        return
    now = now or utcnow()
    rows = (
        await session.execute(
            select(Message, Contact.handle, Channel.network)
            .outerjoin(Contact, Contact.id == Message.contact_id)
            .outerjoin(Channel, Channel.id == Message.channel_id)
            .where(Message.id.in_(message_ids), Message.conversation_id.is_not(None))
            .order_by(Message.id)
        )
    ).all()
    if not rows:
        return
    conversation_ids = sorted({row[0].conversation_id for row in rows})
    conversations = {
        c.id: c
        for c in await session.scalars(
            select(Conversation).where(Conversation.id.in_(conversation_ids)).with_for_update()
        )
    }
    if rules:
        await _apply_rules(session, RuleBook(rules), rows, conversations, set(message_ids), now)
    if has_targets:
        for conversation in conversations.values():
            await sla.refresh(session, conversation)
    await session.flush()


async def _apply_rules(
    session: AsyncSession,
    book: RuleBook,
    rows: Sequence[tuple[Message, str | None, str | None]],
    conversations: dict[int, Conversation],
    stored: set[int],
    now: datetime,
) -> None:
    first_message = dict(
        (
            await session.execute(
                select(Message.conversation_id, func.min(Message.id))
                .where(Message.conversation_id.in_(list(conversations)))
                .group_by(Message.conversation_id)
            )
        )
        .tuples()
        .all()
    )
    contact_ids = {c.contact_id for c in conversations.values() if c.contact_id is not None}
    first_conversation = dict(
        (
            await session.execute(
                select(Conversation.contact_id, func.min(Conversation.id))
                .where(Conversation.contact_id.in_(contact_ids))
                .group_by(Conversation.contact_id)
            )
        )
        .tuples()
        .all()
    )
    for message, handle, network in rows:
        if message.direction != "inbound":
            continue
        conversation = conversations[message.conversation_id]  # type: ignore[index]
        known = first_conversation.get(conversation.contact_id, conversation.id) < conversation.id
        author = (message.extra or {}).get("author") or {}
        title = (message.extra or {}).get("title")
        subject = Subject(
            text=message.text,
            lang=message.lang,
            sentiment=message.sentiment,
            sentiment_score=message.sentiment_score,
            channel_id=message.channel_id,
            network=network,
            handle=handle,
            author_name=author.get("name") or None,
            url=message.url or None,
            known_contact=known,
            title=title if isinstance(title, str) else None,
        )
        actions = book.evaluate(subject)
        if not actions.rule_ids:
            continue
        opened_now = first_message.get(conversation.id) in stored
        await apply_actions(session, conversation, actions, opened=opened_now, now=now)


async def apply_actions(
    session: AsyncSession,
    conversation: Conversation,
    actions: Actions,
    *,
    opened: bool,
    now: datetime,
) -> None:
    """Carry out merged rule actions on a conversation (see the module docstring)."""
    changes: dict[str, object] = {}
    if opened:
        if actions.department_id is not None and conversation.department_id is None:
            department = await session.get(Department, actions.department_id)
            if department is not None and department.workspace_id == conversation.workspace_id:
                conversation.department_id = department.id
                changes["department_id"] = department.id
        if conversation.assignee_id is None:
            person = actions.person_id
            if person is not None and not await _member(session, conversation.workspace_id, person):
                person = None  # left the workspace since the rule was written
            if person is None and actions.round_robin and conversation.department_id is not None:
                person = await next_assignee(session, conversation.department_id, now)
            if person is not None:
                conversation.assignee_id = person
                if conversation.status == "new":
                    conversation.status = "open"
                changes["assignee_id"] = person
    if actions.priority is not None and PRIORITIES.index(actions.priority) > PRIORITIES.index(
        conversation.priority if conversation.priority in PRIORITIES else "normal"
    ):
        conversation.priority = actions.priority
        changes["priority"] = actions.priority
    for tag_id in actions.tag_ids:
        await session.execute(
            insert_ignoring_conflicts(session, ConversationTag.__table__).values(
                conversation_id=conversation.id, tag_id=tag_id
            )
        )
    if actions.tag_ids:
        changes["tag_ids"] = actions.tag_ids
    if changes:
        conversation.updated_at = now
        audit.record(
            session,
            routing_actor(conversation.workspace_id),
            "conversation.route",
            "conversation",
            conversation.id,
            rules=actions.rule_ids,
            **changes,
        )


async def _member(session: AsyncSession, workspace_id: int, person_id: int) -> bool:
    found = await session.scalar(
        select(Membership.id)
        .join(Person, Person.id == Membership.person_id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.person_id == person_id,
            Membership.role != "display",
            Person.is_active.is_(True),
        )
    )
    return found is not None
