"""Demo publishing: a two-step approval chain for Communications and posts waiting at each
step, a draft and a comment, so the composer and the approval queue show real work.

Nothing is scheduled: the demo's only channel is a replay stream, which cannot publish.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.authz import Actor
from allsang.db.models import Channel, Department, Membership, Person, Workspace
from allsang.db.models.publishing import Campaign, Post
from allsang.demo.calendar import CAMPAIGN
from allsang.publishing import service


async def _actor(session: AsyncSession, workspace: Workspace, email: str) -> Actor:
    person = await session.scalar(select(Person).where(Person.email == email))
    assert person is not None, email
    role = await session.scalar(
        select(Membership.role).where(
            Membership.workspace_id == workspace.id, Membership.person_id == person.id
        )
    )
    return Actor(
        kind="person",
        label=person.name,
        workspace_id=workspace.id,
        role=role,
        person_id=person.id,
    )


async def seed_publishing(
    session: AsyncSession, workspace: Workspace, departments: dict[str, Department]
) -> None:
    """Add the chain and the posts once (left alone when the workspace has any post)."""
    await session.flush()
    if await session.scalar(select(Post.id).where(Post.workspace_id == workspace.id).limit(1)):
        return
    channel = await session.scalar(
        select(Channel.id).where(Channel.workspace_id == workspace.id).order_by(Channel.id)
    )
    if channel is None:
        return
    campaign = await session.scalar(
        select(Campaign.id).where(Campaign.workspace_id == workspace.id, Campaign.name == CAMPAIGN)
    )
    owner = await _actor(session, workspace, "astrid@demo.allsang.test")
    editor = await _actor(session, workspace, "ingrid@demo.allsang.test")
    aino = await _actor(session, workspace, "aino@demo.allsang.test")
    lars = await _actor(session, workspace, "lars@demo.allsang.test")
    communications = departments["Communications"].id
    await service.set_approval_chain(
        session,
        owner,
        communications,
        [("editor", []), (None, [owner.person_id or 0])],
        name="Press office: an editor, then the head of communications",
    )
    first = await service.create_draft(
        session,
        aino,
        title="Autumn timetable: what changes",
        body="Från 1 november går morgontågen tio minuter tidigare. Se din avgång i appen.",
        channel_ids=[channel],
        department_id=communications,
        campaign_id=campaign,
    )
    await service.submit_for_review(session, aino, first.id)
    await service.comment(
        session, editor, first.id, "Kan vi lägga till länken till tidtabellen innan den går ut?"
    )
    second = await service.create_draft(
        session,
        aino,
        title="Night buses on weekends",
        body="Nattbussarna kör nu varje fredag och lördag, hela vintern.",
        channel_ids=[channel],
        department_id=communications,
        campaign_id=campaign,
    )
    await service.submit_for_review(session, aino, second.id)
    await service.approve(session, editor, second.id, "Bra, klart från min sida.")
    await service.create_draft(
        session,
        lars,
        title="Summer jobs",
        body="Vi söker sommarvikarier till kundservice. Ansök senast 31 mars!",
        channel_ids=[channel],
        department_id=departments["HR"].id,
    )
