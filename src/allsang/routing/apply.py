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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.dialect import insert_ignoring_conflicts
from allsang.db.models import (
    PRIORITIES,
    AuditEvent,
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
from allsang.routing.hours import hours_for_department
from allsang.routing.roundrobin import take_turns
from allsang.routing.rules import Actions, RuleBook, Subject

ROUTING_ACTOR = "routing"  # the actor label of routing's audit events


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
            # Columns, not entities: a batch has hundreds of messages and routing reads them once.
            select(
                Message.id,
                Message.conversation_id,
                Message.direction,
                Message.text,
                Message.lang,
                Message.sentiment,
                Message.sentiment_score,
                Message.channel_id,
                Message.url,
                Message.extra,
                Contact.handle,
                Channel.network,
            )
            .outerjoin(Contact, Contact.id == Message.contact_id)
            .outerjoin(Channel, Channel.id == Message.channel_id)
            .where(Message.id.in_(message_ids), Message.conversation_id.is_not(None))
            .order_by(Message.id)
        )
    ).all()
    if not rows:
        return
    conversation_ids = sorted({row.conversation_id for row in rows})
    conversations = {
        c.id: c
        for c in await session.scalars(
            select(Conversation).where(Conversation.id.in_(conversation_ids)).with_for_update()
        )
    }
    # Everything below reads what it needs once per batch and changes the loaded objects; the
    # final flush writes them (one statement per kind of change, not one per conversation).
    with session.no_autoflush:
        if rules:
            await _apply_rules(session, RuleBook(rules), rows, conversations, set(message_ids), now)
        if has_targets:
            await _refresh_due_times(session, list(conversations.values()))
    await session.flush()


async def _refresh_due_times(session: AsyncSession, conversations: list[Conversation]) -> None:
    department_ids = {c.department_id for c in conversations if c.department_id is not None}
    targets = await sla.targets_by_department(session, department_ids)
    hours = {d: await hours_for_department(session, d) for d in targets}
    for conversation in conversations:
        department = conversation.department_id
        chosen = sla.pick(targets.get(department) if department else None, conversation.priority)
        due = None
        if chosen is not None and department is not None:
            due = sla.due_at(conversation, chosen, hours[department])
        sla.apply_due(conversation, due)


@dataclass(slots=True)
class _Plan:
    """What the batch's matching rules ask of one conversation."""

    conversation: Conversation
    opened: bool
    rule_ids: list[int] = field(default_factory=list)
    department_id: int | None = None
    person_id: int | None = None
    round_robin: bool = False
    priority: str | None = None
    tag_ids: list[int] = field(default_factory=list)

    def add(self, actions: Actions) -> None:
        self.rule_ids += actions.rule_ids
        if self.opened:
            self.department_id = self.department_id or actions.department_id
            if self.person_id is None and not self.round_robin:
                self.person_id = actions.person_id
                self.round_robin = actions.round_robin
        if actions.priority is not None and (
            self.priority is None or _rank(actions.priority) > _rank(self.priority)
        ):
            self.priority = actions.priority
        self.tag_ids += [t for t in actions.tag_ids if t not in self.tag_ids]


def _rank(priority: str | None) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else PRIORITIES.index("normal")


async def _apply_rules(
    session: AsyncSession,
    book: RuleBook,
    rows: Sequence[Row[Any]],
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
        ).all()
    )
    contact_ids = {c.contact_id for c in conversations.values() if c.contact_id is not None}
    first_conversation = dict(
        (
            await session.execute(
                select(Conversation.contact_id, func.min(Conversation.id))
                .where(Conversation.contact_id.in_(contact_ids))
                .group_by(Conversation.contact_id)
            )
        ).all()
    )
    plans: dict[int, _Plan] = {}
    for message in rows:
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
            network=message.network,
            handle=message.handle,
            author_name=author.get("name") or None,
            url=message.url or None,
            known_contact=known,
            title=title if isinstance(title, str) else None,
        )
        actions = book.evaluate(subject)
        if not actions.rule_ids:
            continue
        plan = plans.get(conversation.id)
        if plan is None:
            opened = first_message.get(conversation.id) in stored
            plan = plans[conversation.id] = _Plan(conversation, opened)
        plan.add(actions)
    if plans:
        await _carry_out(session, list(plans.values()), now)


async def _carry_out(session: AsyncSession, plans: list[_Plan], now: datetime) -> None:
    """Apply the plans (see the module docstring), round-robin turns taken per department."""
    workspace_id = plans[0].conversation.workspace_id
    departments = set(
        await session.scalars(select(Department.id).where(Department.workspace_id == workspace_id))
    )
    members = set(
        await session.scalars(
            select(Membership.person_id)
            .join(Person, Person.id == Membership.person_id)
            .where(
                Membership.workspace_id == workspace_id,
                Membership.role != "display",
                Person.is_active.is_(True),
            )
        )
    )
    changes: dict[int, dict[str, object]] = {}
    waiting_turns: dict[int, list[_Plan]] = {}
    for plan in plans:
        conversation, changed = plan.conversation, changes.setdefault(plan.conversation.id, {})
        if plan.opened:
            if plan.department_id in departments and conversation.department_id is None:
                conversation.department_id = changed["department_id"] = plan.department_id
            if conversation.assignee_id is None:
                if plan.person_id in members:  # skips someone who has left the workspace
                    _assign(conversation, plan.person_id, changed)
                elif plan.round_robin and conversation.department_id is not None:
                    waiting_turns.setdefault(conversation.department_id, []).append(plan)
        if plan.priority is not None and _rank(plan.priority) > _rank(conversation.priority):
            conversation.priority = changed["priority"] = plan.priority
        if plan.tag_ids:
            changed["tag_ids"] = plan.tag_ids
    # Sorted, so two batches lock the departments' counters in the same order (no deadlock).
    for department_id, waiting in sorted(waiting_turns.items()):
        people = await take_turns(session, department_id, len(waiting), now)
        for plan, person in zip(waiting, people, strict=True):
            if person is not None:
                _assign(plan.conversation, person, changes[plan.conversation.id])
    tags = [
        {"conversation_id": plan.conversation.id, "tag_id": tag_id}
        for plan in plans
        for tag_id in plan.tag_ids
    ]
    if tags:
        await session.execute(insert_ignoring_conflicts(session, ConversationTag.__table__), tags)
    # The audit rows audit.record would add, in one multi-row INSERT (a batch can route
    # hundreds of conversations; one INSERT each held the write lock ten times as long).
    events = []
    for plan in plans:
        changed = changes[plan.conversation.id]
        if changed:
            plan.conversation.updated_at = now
            events.append(
                {
                    "workspace_id": workspace_id,
                    "actor_person_id": None,
                    "actor": ROUTING_ACTOR,
                    "action": "conversation.route",
                    "resource_type": "conversation",
                    "resource_id": str(plan.conversation.id),
                    "data": {"rules": plan.rule_ids, **changed},
                    "ip": None,
                    "created_at": now,
                }
            )
    if events:
        await session.execute(insert(AuditEvent), events)


def _assign(conversation: Conversation, person_id: int, changed: dict[str, object]) -> None:
    conversation.assignee_id = changed["assignee_id"] = person_id
    if conversation.status == "new":
        conversation.status = "open"  # as assigning in the inbox does
