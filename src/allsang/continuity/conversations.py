"""The conversation handover provider.

Handed over: every conversation assigned to the absent person that is not closed.

Given back on return only when it is still assigned to the deputy and the deputy has written
nothing in it (no reply, no note) since the handover. A conversation the deputy answered stays
with the deputy — the contact now talks to them, and a silent switch back would confuse both —
and so does one somebody reassigned meanwhile.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.authz import Actor
from allsang.continuity.handover import HandedOver, register_handover
from allsang.db.models import Conversation, Message
from allsang.db.models.continuity import Absence, Handover
from allsang.inbox import actions

KIND = "conversation"


def continuity_actor(absence: Absence) -> Actor:
    return Actor(kind="system", label="out-of-office", workspace_id=absence.workspace_id)


async def hand_over(session: AsyncSession, absence: Absence) -> list[HandedOver]:
    assert absence.deputy_id is not None
    conversations = await session.scalars(
        select(Conversation)
        .where(
            Conversation.workspace_id == absence.workspace_id,
            Conversation.assignee_id == absence.person_id,
            Conversation.status != "closed",
        )
        .order_by(Conversation.id)
    )
    moved = []
    for conversation in conversations:
        await actions.assign(session, continuity_actor(absence), conversation, absence.deputy_id)
        moved.append(HandedOver(conversation.id, conversation_id=conversation.id))
    return moved


async def deputy_wrote(session: AsyncSession, handover: Handover) -> bool:
    """Whether the deputy replied or wrote a note in the conversation after the handover."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    Message.conversation_id == handover.object_id,
                    Message.author_person_id == handover.to_person_id,
                    Message.direction.in_(("outbound", "note")),
                    Message.created_at >= handover.handed_at,
                )
            )
        )
    )


async def give_back(session: AsyncSession, absence: Absence, handover: Handover) -> bool:
    conversation = await session.get(Conversation, handover.object_id)
    if conversation is None or conversation.workspace_id != absence.workspace_id:
        return False
    if conversation.assignee_id != handover.to_person_id or await deputy_wrote(session, handover):
        return False
    try:
        await actions.assign(session, continuity_actor(absence), conversation, absence.person_id)
    except actions.NotFound:  # the person left the workspace while away
        return False
    return True


register_handover(KIND, hand_over, give_back)
