"""Handover providers for publishing (see :mod:`allsang.continuity.handover`).

* ``post``: the absent person's posts that are still in motion — in review, approved,
  scheduled, or failed / outcome unknown and waiting for a decision — get the deputy as their
  owner, so questions, rejections and "outcome unknown" land with someone present. Given back
  on return unless the deputy worked on the post (any audited change by the deputy since the
  handover) or someone else took it over meanwhile.
* ``approval_step``: approval steps that name the absent person also name the deputy while the
  person is away, so posts waiting at such a step are not stuck. Given back by removing the
  deputy again (decisions the deputy took stand); a step that named the deputy already is not
  handed over.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor
from allsang.continuity.handover import HandedOver, register_handover
from allsang.db.models import AuditEvent
from allsang.db.models.continuity import Absence, Handover
from allsang.db.models.publishing import ApprovalChain, ApprovalStep, Post

PENDING = ("in_review", "approved", "scheduled", "failed", "outcome_unknown")


def _actor(absence: Absence) -> Actor:
    return Actor(kind="system", label="out-of-office", workspace_id=absence.workspace_id)


async def hand_over_posts(session: AsyncSession, absence: Absence) -> list[HandedOver]:
    assert absence.deputy_id is not None
    posts = await session.scalars(
        select(Post)
        .where(
            Post.workspace_id == absence.workspace_id,
            Post.author_id == absence.person_id,
            Post.status.in_(PENDING),
        )
        .order_by(Post.id)
    )
    moved = []
    for post in posts:
        post.author_id = absence.deputy_id
        audit.record(
            session,
            _actor(absence),
            "post.hand_over",
            "post",
            post.id,
            workspace_id=post.workspace_id,
            **{"from": absence.person_id, "to": absence.deputy_id},
        )
        moved.append(HandedOver(post.id, {"status": post.status}))
    return moved


async def _deputy_worked_on(session: AsyncSession, handover: Handover) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(
                    AuditEvent.resource_type == "post",
                    AuditEvent.resource_id == str(handover.object_id),
                    AuditEvent.actor_person_id == handover.to_person_id,
                    AuditEvent.created_at >= handover.handed_at,
                )
            )
        )
    )


async def give_back_post(session: AsyncSession, absence: Absence, handover: Handover) -> bool:
    post = await session.get(Post, handover.object_id)
    if post is None or post.workspace_id != absence.workspace_id:
        return False
    if post.author_id != handover.to_person_id or await _deputy_worked_on(session, handover):
        return False
    post.author_id = absence.person_id
    audit.record(
        session,
        _actor(absence),
        "post.give_back",
        "post",
        post.id,
        workspace_id=post.workspace_id,
        to=absence.person_id,
    )
    return True


async def hand_over_steps(session: AsyncSession, absence: Absence) -> list[HandedOver]:
    assert absence.deputy_id is not None
    steps = await session.scalars(
        select(ApprovalStep)
        .join(ApprovalChain, ApprovalChain.id == ApprovalStep.chain_id)
        .where(ApprovalChain.workspace_id == absence.workspace_id)
        .order_by(ApprovalStep.id)
    )
    moved = []
    for step in steps:
        people = [int(p) for p in step.person_ids or ()]
        if absence.person_id not in people or absence.deputy_id in people:
            continue
        step.person_ids = [*people, absence.deputy_id]
        audit.record(
            session,
            _actor(absence),
            "approval_step.hand_over",
            "approval_step",
            step.id,
            workspace_id=absence.workspace_id,
            **{"from": absence.person_id, "to": absence.deputy_id},
        )
        moved.append(HandedOver(step.id, {"chain_id": step.chain_id}))
    return moved


async def give_back_step(session: AsyncSession, absence: Absence, handover: Handover) -> bool:
    step = await session.get(ApprovalStep, handover.object_id)
    if step is None:
        return False
    people = [int(p) for p in step.person_ids or ()]
    if handover.to_person_id not in people:
        return False  # someone changed the chain meanwhile
    step.person_ids = [p for p in people if p != handover.to_person_id]
    audit.record(
        session,
        _actor(absence),
        "approval_step.give_back",
        "approval_step",
        step.id,
        workspace_id=absence.workspace_id,
        to=absence.person_id,
    )
    return True


register_handover("post", hand_over_posts, give_back_post)
register_handover("approval_step", hand_over_steps, give_back_step)
