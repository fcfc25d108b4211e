"""What people do with posts. Every function takes an :class:`~allsang.authz.Actor`, calls
:func:`~allsang.authz.authorize`, works inside the caller's ``db.write()`` session (the caller
commits), and writes an audit event per state change in that same transaction.

Contracts shared by all functions:

* Objects are looked up in the actor's workspace; others raise :class:`NotFound`.
* Illegal status changes raise :class:`IllegalTransition`; scheduling an unapproved post
  raises :class:`ApprovalRequired`; deciding a step one may not decide raises
  :class:`NotApprover`; content that cannot go out raises :class:`InvalidPost`.
* Times given by people are naive local wall-clock times plus an IANA zone; they are stored
  in UTC with the zone (see :mod:`allsang.publishing.timing` for DST handling).
* Scheduling creates one :class:`PostDelivery` per (post, channel, occurrence) and enqueues its
  ``publishing.deliver`` job in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import RANK, Actor, authorize, can
from allsang.channels import is_webhook
from allsang.connectors import limits, registry
from allsang.connectors.base import Capability, MediaFile, media_limits
from allsang.db.models import Channel, Department, Workspace
from allsang.db.models.calendar import AdvocacyShare
from allsang.db.models.publishing import (
    ApprovalChain,
    ApprovalStep,
    Campaign,
    Post,
    PostApproval,
    PostComment,
    PostDelivery,
    PostMedia,
    PostVariant,
    QueueSlot,
)
from allsang.db.types import utcnow
from allsang.jobs import enqueue
from allsang.publishing import media
from allsang.publishing.states import (
    EDITABLE,
    ApprovalRequired,
    IllegalTransition,
    InvalidPost,
    NotApprover,
    NotFound,
    PublishingError,
    check_transition,
    post_status_from,
)
from allsang.publishing.timing import (
    FoldPolicy,
    GapPolicy,
    occurrences,
    to_local,
    to_utc,
    weekly_slots,
    zone,
)

__all__ = [
    "ApprovalRequired",
    "IllegalTransition",
    "InvalidPost",
    "NotApprover",
    "NotFound",
    "PostFilter",
    "PublishingError",
]

DELIVER_JOB = "publishing.deliver"
# How far ahead a recurring post's occurrences exist as deliveries; a daily job extends it.
HORIZON = timedelta(days=60)
MAX_BODY = 20_000
# The default chain when a department and the workspace have none: one editor approves.
DEFAULT_STEP_ROLE = "editor"
SCHEDULER = Actor(kind="system", label="scheduler")


@dataclass(frozen=True, slots=True)
class PostFilter:
    """Filters of :func:`list_posts`; ``None`` means any. ``start``/``end`` (UTC) select posts
    whose ``scheduled_at`` falls in [start, end); with either set, unscheduled posts are left
    out."""

    statuses: Sequence[str] | None = None
    department_id: int | None = None
    campaign_id: int | None = None
    author_id: int | None = None
    channel_id: int | None = None
    share_ready: bool | None = None
    start: datetime | None = None
    end: datetime | None = None


# -- helpers ---------------------------------------------------------------------------------


async def _post(session: AsyncSession, actor: Actor, post_id: int, action: str) -> Post:
    post = await session.get(Post, post_id)
    if post is None or (actor.kind != "system" and post.workspace_id != actor.workspace_id):
        raise NotFound(f"no post {post_id}")
    authorize(actor, action, post)
    return post


def _own(actor: Actor, post: Post) -> bool:
    return actor.person_id is not None and actor.person_id == post.author_id


def _authorize_edit(actor: Actor, post: Post) -> None:
    authorize(actor, "post.draft" if _own(actor, post) else "post.manage", post)


def _set_status(
    session: AsyncSession, actor: Actor, post: Post, wanted: str, **data: object
) -> None:
    """Move ``post`` to ``wanted`` (checked) and audit it."""
    check_transition(post.status, wanted)
    before = post.status
    post.status = wanted
    post.updated_at = utcnow()
    audit.record(
        session,
        actor,
        f"post.{wanted}",
        "post",
        post.id,
        workspace_id=post.workspace_id,
        **{"from": before, "to": wanted},
        **data,
    )


async def _channels(
    session: AsyncSession, workspace_id: int, channel_ids: Sequence[int]
) -> list[Channel]:
    ids = list(dict.fromkeys(int(c) for c in channel_ids))
    if not ids:
        return []
    found = (
        await session.scalars(
            select(Channel).where(Channel.workspace_id == workspace_id, Channel.id.in_(ids))
        )
    ).all()
    if len(found) != len(ids):
        missing = sorted(set(ids) - {c.id for c in found})
        raise NotFound(f"no channel {missing[0]}")
    return sorted(found, key=lambda c: ids.index(c.id))


async def _check_refs(
    session: AsyncSession, workspace_id: int, department_id: int | None, campaign_id: int | None
) -> None:
    if department_id is not None:
        department = await session.get(Department, department_id)
        if department is None or department.workspace_id != workspace_id:
            raise NotFound(f"no department {department_id}")
    if campaign_id is not None:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None or campaign.workspace_id != workspace_id:
            raise NotFound(f"no campaign {campaign_id}")


async def _set_variants(
    session: AsyncSession,
    post: Post,
    channel_ids: Sequence[int] | None,
    variants: dict[int, str] | None,
) -> None:
    existing = {
        v.channel_id: v
        for v in (
            await session.scalars(select(PostVariant).where(PostVariant.post_id == post.id))
        ).all()
    }
    variants = {int(k): v for k, v in variants.items()} if variants is not None else None
    wanted = [int(c) for c in channel_ids] if channel_ids is not None else list(existing)
    for extra in variants or {}:
        if int(extra) not in wanted:
            wanted.append(int(extra))
    channels = await _channels(session, post.workspace_id, wanted)
    keep = {c.id for c in channels}
    for channel_id, variant in existing.items():
        if channel_id not in keep:
            await session.delete(variant)
    for channel in channels:
        variant = existing.get(channel.id)
        if variant is None:
            variant = PostVariant(post_id=post.id, channel_id=channel.id, text="", media_ids=[])
            session.add(variant)
        if variants is not None and channel.id in variants:
            variant.text = (variants[channel.id] or "").strip()


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if len(body) > MAX_BODY:
        raise InvalidPost(f"a post has at most {MAX_BODY} characters", "too_long")
    return body


# -- drafts ----------------------------------------------------------------------------------


async def create_draft(
    session: AsyncSession,
    actor: Actor,
    *,
    body: str,
    title: str = "",
    channel_ids: Sequence[int] = (),
    variants: dict[int, str] | None = None,
    department_id: int | None = None,
    campaign_id: int | None = None,
    share_ready: bool = False,
) -> Post:
    """A new draft by the actor (``post.draft``), with one variant per channel (``variants``
    maps channel id → text; missing or empty text means the body)."""
    authorize(actor, "post.draft")
    if actor.workspace_id is None:
        raise PermissionError("a post belongs to a workspace")
    await _check_refs(session, actor.workspace_id, department_id, campaign_id)
    workspace = await session.get(Workspace, actor.workspace_id)
    post = Post(
        workspace_id=actor.workspace_id,
        department_id=department_id,
        campaign_id=campaign_id,
        author_id=actor.person_id,
        title=(title or "").strip()[:300],
        body=_clean_body(body),
        status="draft",
        timezone=workspace.timezone if workspace else "UTC",
        share_ready=share_ready,
        approval_step=0,
    )
    session.add(post)
    await session.flush()
    await _set_variants(session, post, channel_ids, variants)
    audit.record(session, actor, "post.create", "post", post.id, title=post.title)
    return post


async def update_draft(
    session: AsyncSession,
    actor: Actor,
    post_id: int,
    *,
    body: str | None = None,
    title: str | None = None,
    channel_ids: Sequence[int] | None = None,
    variants: dict[int, str] | None = None,
    department_id: int | None = None,
    campaign_id: int | None = None,
    share_ready: bool | None = None,
) -> Post:
    """Change a post's content (``post.draft`` on one's own post, ``post.manage`` on others').

    Only in draft, in_review or approved. An edit by someone whose posts need approval sends an
    in_review or approved post back to draft (its approvals no longer hold). ``department_id``
    and ``campaign_id`` are changed only when given (pass ``0`` to clear them)."""
    post = await _post(session, actor, post_id, "post.view")
    _authorize_edit(actor, post)
    if post.status not in EDITABLE:
        raise IllegalTransition(post.status, "draft")
    department = post.department_id if department_id is None else (department_id or None)
    campaign = post.campaign_id if campaign_id is None else (campaign_id or None)
    await _check_refs(session, post.workspace_id, department, campaign)
    post.department_id, post.campaign_id = department, campaign
    if body is not None:
        post.body = _clean_body(body)
    if title is not None:
        post.title = title.strip()[:300]
    if share_ready is not None:
        post.share_ready = share_ready
    await _set_variants(session, post, channel_ids, variants)
    post.updated_at = utcnow()
    audit.record(session, actor, "post.update", "post", post.id)
    if post.status != "draft" and await _needs_approval(session, actor, post):
        _set_status(session, actor, post, "draft", reason="edited")
        post.approval_step = 0
        post.approved_at = None
    return post


async def comment(session: AsyncSession, actor: Actor, post_id: int, body: str) -> PostComment:
    """Add a comment to a post (``post.comment``)."""
    post = await _post(session, actor, post_id, "post.comment")
    body = (body or "").strip()
    if not body:
        raise InvalidPost("a comment needs text")
    note = PostComment(post_id=post.id, person_id=actor.person_id, body=body[:MAX_BODY])
    session.add(note)
    await session.flush()
    audit.record(session, actor, "post.comment", "post", post.id, comment_id=note.id)
    return note


async def comments(session: AsyncSession, actor: Actor, post_id: int) -> list[PostComment]:
    """A post's comments, oldest first (``post.view``)."""
    post = await _post(session, actor, post_id, "post.view")
    return list(
        (
            await session.scalars(
                select(PostComment)
                .where(PostComment.post_id == post.id)
                .order_by(PostComment.created_at, PostComment.id)
            )
        ).all()
    )


# -- approvals -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    position: int
    step_id: int | None
    role: str | None
    person_ids: tuple[int, ...]
    name: str = ""


async def chain_for(
    session: AsyncSession, workspace_id: int, department_id: int | None
) -> tuple[ApprovalChain | None, list[Step]]:
    """The department's chain, else the workspace default, else one editor step."""
    chain = None
    if department_id is not None:
        chain = await session.scalar(
            select(ApprovalChain).where(
                ApprovalChain.workspace_id == workspace_id,
                ApprovalChain.department_id == department_id,
            )
        )
    if chain is None:
        chain = await session.scalar(
            select(ApprovalChain).where(
                ApprovalChain.workspace_id == workspace_id,
                ApprovalChain.department_id.is_(None),
            )
        )
    if chain is None:
        return None, [Step(0, None, DEFAULT_STEP_ROLE, ())]
    rows = (
        await session.scalars(
            select(ApprovalStep)
            .where(ApprovalStep.chain_id == chain.id)
            .order_by(ApprovalStep.position)
        )
    ).all()
    steps = [
        Step(i, row.id, row.role, tuple(int(p) for p in row.person_ids or ()), row.name)
        for i, row in enumerate(rows)
    ]
    return chain, steps or [Step(0, None, DEFAULT_STEP_ROLE, ())]


async def _needs_approval(session: AsyncSession, actor: Actor, post: Post) -> bool:
    """Whether this actor's action on ``post`` needs the approval chain: always, unless the
    chain exempts editors and the actor is at least an editor (or the system)."""
    if actor.kind == "system":
        return False
    chain, _ = await chain_for(session, post.workspace_id, post.department_id)
    exempt = chain.editors_exempt if chain is not None else True
    return not (exempt and RANK.get(actor.role or "", 0) >= RANK["editor"])


async def current_step(session: AsyncSession, post: Post) -> Step | None:
    """The step an in-review post waits at."""
    if post.status != "in_review":
        return None
    _, steps = await chain_for(session, post.workspace_id, post.department_id)
    return steps[min(post.approval_step, len(steps) - 1)]


def may_decide(actor: Actor, post: Post, step: Step) -> bool:
    """Named people decide their step; otherwise anyone with at least its role. Nobody
    decides on their own post."""
    if _own(actor, post) or not can(actor, "post.review", post):
        return False
    if step.person_ids:
        return actor.person_id in step.person_ids
    if actor.kind == "system":
        return True
    return RANK.get(actor.role or "", 0) >= RANK.get(step.role or DEFAULT_STEP_ROLE, 99)


async def submit_for_review(session: AsyncSession, actor: Actor, post_id: int) -> Post:
    """draft → in_review, waiting at the first step of the department's approval chain."""
    post = await _post(session, actor, post_id, "post.view")
    _authorize_edit(actor, post)
    await _require_content(session, post)
    chain, _ = await chain_for(session, post.workspace_id, post.department_id)
    _set_status(session, actor, post, "in_review")
    post.approval_chain_id = chain.id if chain else None
    post.approval_step = 0
    return post


async def withdraw(session: AsyncSession, actor: Actor, post_id: int) -> Post:
    """in_review → draft by its author (or an editor)."""
    post = await _post(session, actor, post_id, "post.view")
    _authorize_edit(actor, post)
    _set_status(session, actor, post, "draft", reason="withdrawn")
    post.approval_step = 0
    return post


async def approve(session: AsyncSession, actor: Actor, post_id: int, note: str = "") -> Post:
    """Approve the step the post waits at (``post.review`` plus being one of the step's people
    or having its role; never one's own post). After the last step: in_review → approved."""
    post = await _post(session, actor, post_id, "post.review")
    if post.status != "in_review":
        raise IllegalTransition(post.status, "approved")
    _, steps = await chain_for(session, post.workspace_id, post.department_id)
    step = steps[min(post.approval_step, len(steps) - 1)]
    if not may_decide(actor, post, step):
        raise NotApprover(f"{actor.label} may not decide step {step.position + 1} of this post")
    session.add(
        PostApproval(
            post_id=post.id,
            step_id=step.step_id,
            position=step.position,
            person_id=actor.person_id,
            decision="approved",
            note=note.strip(),
        )
    )
    audit.record(session, actor, "post.approve_step", "post", post.id, step=step.position + 1)
    if step.position + 1 < len(steps):
        post.approval_step = step.position + 1
        post.updated_at = utcnow()
    else:
        _set_status(session, actor, post, "approved")
        post.approved_at = utcnow()
    return post


async def reject(session: AsyncSession, actor: Actor, post_id: int, note: str) -> Post:
    """Reject at the current step with a reason: in_review → draft."""
    post = await _post(session, actor, post_id, "post.review")
    if post.status != "in_review":
        raise IllegalTransition(post.status, "draft")
    if not note.strip():
        raise InvalidPost("say why the post is rejected", "note_required")
    _, steps = await chain_for(session, post.workspace_id, post.department_id)
    step = steps[min(post.approval_step, len(steps) - 1)]
    if not may_decide(actor, post, step):
        raise NotApprover(f"{actor.label} may not decide step {step.position + 1} of this post")
    session.add(
        PostApproval(
            post_id=post.id,
            step_id=step.step_id,
            position=step.position,
            person_id=actor.person_id,
            decision="rejected",
            note=note.strip(),
        )
    )
    _set_status(session, actor, post, "draft", reason="rejected", note=note.strip())
    post.approval_step = 0
    return post


async def approvals(session: AsyncSession, actor: Actor, post_id: int) -> list[PostApproval]:
    """The decisions taken on a post, oldest first."""
    post = await _post(session, actor, post_id, "post.view")
    return list(
        (
            await session.scalars(
                select(PostApproval)
                .where(PostApproval.post_id == post.id)
                .order_by(PostApproval.created_at, PostApproval.id)
            )
        ).all()
    )


async def awaiting(session: AsyncSession, actor: Actor) -> list[Post]:
    """In-review posts of the workspace whose current step the actor may decide."""
    authorize(actor, "post.view")
    posts = (
        await session.scalars(
            select(Post)
            .where(Post.workspace_id == actor.workspace_id, Post.status == "in_review")
            .order_by(Post.updated_at)
        )
    ).all()
    mine = []
    for post in posts:
        step = await current_step(session, post)
        if step is not None and may_decide(actor, post, step):
            mine.append(post)
    return mine


async def set_approval_chain(
    session: AsyncSession,
    actor: Actor,
    department_id: int | None,
    steps: Sequence[tuple[str | None, Sequence[int]]],
    *,
    name: str = "",
    editors_exempt: bool = True,
) -> ApprovalChain:
    """Replace a department's chain (``None``: the workspace default) with ``steps``, each
    ``(minimum role or None, named person ids)`` in order (``approval.manage``)."""
    authorize(actor, "approval.manage")
    if actor.workspace_id is None:
        raise PermissionError("a chain belongs to a workspace")
    if not steps:
        raise InvalidPost("an approval chain needs at least one step")
    await _check_refs(session, actor.workspace_id, department_id, None)
    for role, people in steps:
        if role is None and not people:
            raise InvalidPost("each step needs a role or named people")
        if role is not None and role not in RANK:
            raise InvalidPost(f"unknown role {role!r}")
    chain = await session.scalar(
        select(ApprovalChain).where(
            ApprovalChain.workspace_id == actor.workspace_id,
            ApprovalChain.department_id.is_(None)
            if department_id is None
            else ApprovalChain.department_id == department_id,
        )
    )
    if chain is None:
        chain = ApprovalChain(workspace_id=actor.workspace_id, department_id=department_id)
        session.add(chain)
        await session.flush()
    else:
        await session.execute(delete(ApprovalStep).where(ApprovalStep.chain_id == chain.id))
    chain.name = name
    chain.editors_exempt = editors_exempt
    for position, (role, people) in enumerate(steps):
        session.add(
            ApprovalStep(
                chain_id=chain.id,
                position=position,
                role=role,
                person_ids=[int(p) for p in people],
            )
        )
    await session.flush()
    audit.record(
        session,
        actor,
        "approval_chain.set",
        "approval_chain",
        chain.id,
        department_id=department_id,
        steps=[[role, list(people)] for role, people in steps],
    )
    return chain


# -- scheduling ------------------------------------------------------------------------------


async def _require_content(session: AsyncSession, post: Post) -> list[PostVariant]:
    variants = (
        await session.scalars(select(PostVariant).where(PostVariant.post_id == post.id))
    ).all()
    if not variants:
        raise InvalidPost("choose at least one channel", "no_channel")
    for variant in variants:
        if not (variant.text or post.body).strip():
            raise InvalidPost("the post has no text", "no_text")
    await media.check_alt_text(session, post)
    return list(variants)


def can_publish(network: str) -> bool:
    """Whether the network's connector has the publish capability."""
    try:
        cls = registry.connector_class(network)
    except LookupError:
        return False
    return Capability.PUBLISH in cls.capabilities


async def _require_publishable(
    session: AsyncSession, post: Post, variants: Sequence[PostVariant]
) -> None:
    """Every channel must be able to publish, and each text must fit its network (counted as
    :mod:`allsang.connectors.limits` counts, like the composer). Media go out only through
    connectors that declare ``media_limits`` (Mastodon, Bluesky) and only within them; a post
    with media for another network is refused (``media``), as is one beyond the network's
    limits (``media_limit``), rather than sent without its files."""
    for variant in variants:
        channel = await session.get(Channel, variant.channel_id)
        network = channel.network if channel else "?"
        if channel is None or is_webhook(channel) or not can_publish(network):
            raise InvalidPost(f"{network} channels cannot publish posts", "channel")
        try:
            limits.check(network, variant_text(post, variant), config=channel.config)
        except limits.TooLong as exc:
            raise InvalidPost(
                f"the text for {channel.name} is {exc.length} characters; "
                f"{network} allows {exc.limit}",
                "too_long",
            ) from None
        if variant.media_ids:
            await _require_media_fit(session, channel, variant)


async def _require_media_fit(session: AsyncSession, channel: Channel, variant: PostVariant) -> None:
    allowed = media_limits(registry.connector_class(channel.network))
    if allowed is None:
        raise InvalidPost(
            f"{channel.network} channels cannot publish images or videos yet", "media"
        )
    files = [
        MediaFile(Path(row.path), row.content_type, row.alt_text, row.kind, row.size)
        for row in await variant_media(session, variant)
    ]
    if problem := allowed.problem(files):
        raise InvalidPost(f"{channel.name} ({channel.network}): {problem}", "media_limit")


async def variant_media(session: AsyncSession, variant: PostVariant) -> list[PostMedia]:
    """The media rows of a variant, in the variant's order."""
    ids = [int(m) for m in variant.media_ids or ()]
    if not ids:
        return []
    rows = {
        row.id: row
        for row in (await session.scalars(select(PostMedia).where(PostMedia.id.in_(ids)))).all()
    }
    return [rows[m] for m in ids if m in rows]


def variant_text(post: Post, variant: PostVariant) -> str:
    """What goes out on the variant's channel."""
    return (variant.text or post.body).strip()


async def _taken(session: AsyncSession, channel_id: int, after: datetime) -> set[datetime]:
    rows = await session.scalars(
        select(PostDelivery.due_at).where(
            PostDelivery.channel_id == channel_id,
            PostDelivery.due_at > after,
            PostDelivery.state != "cancelled",
        )
    )
    return set(rows.all())


async def free_slot(session: AsyncSession, channel_id: int, after: datetime) -> datetime:
    """The channel's first weekly queue slot after ``after`` that no delivery takes."""
    slots = (
        await session.scalars(select(QueueSlot).where(QueueSlot.channel_id == channel_id))
    ).all()
    if not slots:
        raise InvalidPost("the channel has no queue times; choose a time instead", "no_slots")
    taken = await _taken(session, channel_id, after)
    for instant in weekly_slots(
        ((s.weekday, s.minute, s.timezone) for s in slots), after=after, days=366
    ):
        if instant not in taken:
            return instant
    raise InvalidPost("the channel's queue is full for the coming year", "no_slots")


def _new_key(post: Post, channel_id: int) -> str:
    # Names the delivery, not the request: the job and the network's Idempotency-Key use it.
    return f"publish:{post.id}:{channel_id}:{uuid.uuid4().hex[:16]}"


async def _add_delivery(
    session: AsyncSession, post: Post, variant: PostVariant, due_at: datetime
) -> PostDelivery:
    delivery = PostDelivery(
        workspace_id=post.workspace_id,
        post_id=post.id,
        channel_id=variant.channel_id,
        due_at=due_at,
        state="scheduled",
        idempotency_key=_new_key(post, variant.channel_id),
        text=variant_text(post, variant),
        attempts=0,
    )
    session.add(delivery)
    await session.flush()
    await enqueue_delivery(session, delivery)
    return delivery


def job_key(delivery: PostDelivery) -> str:
    """The idempotency key of the delivery's job for its current due time."""
    return f"{delivery.idempotency_key}@{delivery.due_at.isoformat()}"


async def enqueue_delivery(session: AsyncSession, delivery: PostDelivery) -> None:
    """The delivery's job, due at ``due_at``; one job per delivery and due time."""
    await enqueue(
        session,
        DELIVER_JOB,
        {"delivery_id": delivery.id},
        run_at=delivery.due_at,
        idempotency_key=job_key(delivery),
        max_attempts=8,
        workspace_id=delivery.workspace_id,
    )


async def _approve_on_the_way(session: AsyncSession, actor: Actor, post: Post) -> None:
    if post.status in ("approved", "failed"):
        return
    if post.status in ("draft", "in_review") and not await _needs_approval(session, actor, post):
        if post.status == "in_review":
            _set_status(session, actor, post, "approved", reason="exempt")
        else:
            _set_status(session, actor, post, "approved", reason="approval not required")
        post.approved_at = utcnow()
        return
    if post.status in ("draft", "in_review"):
        raise ApprovalRequired("the post must be approved before it is scheduled")
    raise IllegalTransition(post.status, "scheduled")


async def schedule(
    session: AsyncSession,
    actor: Actor,
    post_id: int,
    *,
    local_time: datetime | None = None,
    at: datetime | None = None,
    timezone: str | None = None,
    next_free_slot: bool = False,
    recurrence: str | None = None,
    on_gap: GapPolicy = "raise",
    on_fold: FoldPolicy = "raise",
    now: datetime | None = None,
) -> Post:
    """approved → scheduled (``post.schedule``). Exactly one of: ``local_time`` (naive) in
    ``timezone`` (default: the post's planning zone, which starts as the workspace's); ``at``,
    an aware instant (no DST question arises); or ``next_free_slot``, each channel's next queue
    slot not taken by another delivery. ``recurrence`` (an RRULE) repeats the post from the
    given time, in local time; occurrences are expanded up to :data:`HORIZON` ahead. A draft
    of an actor exempt from approval is approved on the way; anyone else's unapproved post
    raises ApprovalRequired. The time must not be in the past."""
    now = now or utcnow()
    post = await _post(session, actor, post_id, "post.schedule")
    if (local_time is not None) + (at is not None) + bool(next_free_slot) != 1:
        raise InvalidPost("give either a time or the next free queue slot")
    if at is not None and at.tzinfo is None:
        raise ValueError("at must be timezone-aware; use local_time for wall-clock times")
    if recurrence and next_free_slot:
        raise InvalidPost("a recurring post needs a start time")
    variants = await _require_content(session, post)
    await _require_publishable(session, post, variants)
    await _approve_on_the_way(session, actor, post)
    timezone = timezone or post.timezone
    zone(timezone)
    dues: dict[int, list[datetime]] = {}
    if at is not None:
        local_time = to_local(at, timezone)
    if local_time is not None:
        first = at or to_utc(local_time, timezone, on_gap=on_gap, on_fold=on_fold)
        if first <= now - timedelta(minutes=1):
            raise InvalidPost("the time is in the past", "past")
        instants = [first]
        if recurrence:
            instants += occurrences(
                recurrence, local_time, timezone, after=first, until=now + HORIZON
            )
        for variant in variants:
            dues[variant.channel_id] = instants
        post.planned_local = local_time.replace(microsecond=0).isoformat()
        post.recurrence = recurrence or None
        post.recurrence_until = now + HORIZON if recurrence else None
    else:
        for variant in variants:
            dues[variant.channel_id] = [await free_slot(session, variant.channel_id, now)]
        post.recurrence = None
        post.recurrence_until = None
    for variant in variants:
        for due in dues[variant.channel_id]:
            await _add_delivery(session, post, variant, due)
    post.timezone = timezone
    post.scheduled_at = min(min(d) for d in dues.values())
    if next_free_slot:
        post.planned_local = to_local(post.scheduled_at, timezone).isoformat()
    _set_status(
        session,
        actor,
        post,
        "scheduled",
        scheduled_at=post.scheduled_at.isoformat(),
        timezone=timezone,
        recurrence=recurrence or "",
    )
    return post


async def publish_now(
    session: AsyncSession, actor: Actor, post_id: int, *, now: datetime | None = None
) -> Post:
    """Schedule an approved post for right now (same rules as :func:`schedule`)."""
    now = (now or utcnow()).replace(microsecond=0)
    return await schedule(session, actor, post_id, at=now, now=now)


async def extend_recurrences(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Add the deliveries of recurring posts' occurrences that came within :data:`HORIZON`;
    returns how many were added. Run daily by a cron job."""
    now = now or utcnow()
    until = now + HORIZON
    posts = (
        await session.scalars(
            select(Post).where(
                Post.recurrence.is_not(None),
                Post.recurrence_until.is_not(None),
                Post.recurrence_until < until,
                Post.status.not_in(("draft", "in_review", "approved")),
            )
        )
    ).all()
    added = 0
    for post in posts:
        if not post.planned_local or not post.recurrence or post.recurrence_until is None:
            continue
        start = datetime.fromisoformat(post.planned_local)
        instants = occurrences(
            post.recurrence, start, post.timezone, after=post.recurrence_until, until=until
        )
        variants = (
            await session.scalars(select(PostVariant).where(PostVariant.post_id == post.id))
        ).all()
        for instant in instants:
            for variant in variants:
                await _add_delivery(session, post, variant, instant)
                added += 1
        post.recurrence_until = until
        if instants and post.status == "published":
            _set_status(session, SCHEDULER, post, "scheduled", reason="next occurrences")
    return added


async def cancel(session: AsyncSession, actor: Actor, post_id: int) -> Post:
    """scheduled → approved: deliveries not yet started are cancelled (their jobs do nothing).
    Deliveries already publishing or published are kept; a post with one publishing raises
    IllegalTransition (wait until it is done)."""
    post = await _post(session, actor, post_id, "post.view")
    _authorize_edit(actor, post)
    authorize(actor, "post.schedule", post)
    deliveries = (
        await session.scalars(select(PostDelivery).where(PostDelivery.post_id == post.id))
    ).all()
    if any(d.state == "publishing" for d in deliveries):
        raise IllegalTransition("publishing", "approved")
    if post.status not in ("scheduled", "failed", "outcome_unknown"):
        raise IllegalTransition(post.status, "approved")
    cancelled = 0
    for delivery in deliveries:
        if delivery.state in ("scheduled", "failed", "outcome_unknown"):
            delivery.state = "cancelled"
            delivery.updated_at = utcnow()
            cancelled += 1
    post.recurrence_until = None
    post.scheduled_at = None
    check_transition(post.status, "approved")
    _set_status(session, actor, post, "approved", reason="cancelled", deliveries=cancelled)
    return post


async def refresh_status(session: AsyncSession, actor: Actor, post: Post) -> None:
    """Set a scheduled post's status from its deliveries (audited when it changes).
    Colleagues' shares (employee advocacy) are theirs, not the post's, and do not count."""
    shares = select(AdvocacyShare.delivery_id).where(
        AdvocacyShare.post_id == post.id, AdvocacyShare.delivery_id.is_not(None)
    )
    states = list(
        (
            await session.scalars(
                select(PostDelivery.state).where(
                    PostDelivery.post_id == post.id, PostDelivery.id.not_in(shares)
                )
            )
        ).all()
    )
    wanted = post_status_from(states, post.status)
    if wanted != post.status and post.status not in ("draft", "in_review", "approved"):
        _set_status(session, actor, post, wanted)
        if wanted == "published" and post.published_at is None:
            post.published_at = utcnow()


# -- resolving deliveries --------------------------------------------------------------------


async def _delivery(session: AsyncSession, actor: Actor, delivery_id: int) -> PostDelivery:
    delivery = await session.get(PostDelivery, delivery_id)
    if delivery is None or (actor.kind != "system" and delivery.workspace_id != actor.workspace_id):
        raise NotFound(f"no delivery {delivery_id}")
    authorize(actor, "post.manage", delivery)
    return delivery


async def deliveries(session: AsyncSession, actor: Actor, post_id: int) -> list[PostDelivery]:
    """A post's deliveries by due time."""
    post = await _post(session, actor, post_id, "post.view")
    return list(
        (
            await session.scalars(
                select(PostDelivery)
                .where(PostDelivery.post_id == post.id)
                .order_by(PostDelivery.due_at, PostDelivery.id)
            )
        ).all()
    )


async def mark_published(
    session: AsyncSession, actor: Actor, delivery_id: int, *, url: str, external_id: str = ""
) -> PostDelivery:
    """A person confirms an outcome-unknown (or failed) delivery is on the network at ``url``
    (``post.manage``)."""
    delivery = await _delivery(session, actor, delivery_id)
    if delivery.state not in ("outcome_unknown", "failed"):
        raise IllegalTransition(delivery.state, "published")
    delivery.state = "published"
    delivery.url = url.strip() or None
    delivery.external_id = external_id.strip() or delivery.external_id
    delivery.published_at = delivery.published_at or utcnow()
    delivery.resolved_by_id = actor.person_id
    delivery.updated_at = utcnow()
    audit.record(session, actor, "delivery.mark_published", "post_delivery", delivery.id, url=url)
    post = await session.get(Post, delivery.post_id)
    if post is not None:
        await refresh_status(session, actor, post)
    return delivery


async def retry_delivery(
    session: AsyncSession, actor: Actor, delivery_id: int, *, now: datetime | None = None
) -> PostDelivery:
    """A person decides an outcome-unknown or failed delivery did not go out: send it again
    now, with the same network idempotency key (``post.manage``)."""
    delivery = await _delivery(session, actor, delivery_id)
    if delivery.state not in ("outcome_unknown", "failed"):
        raise IllegalTransition(delivery.state, "scheduled")
    delivery.state = "scheduled"
    delivery.due_at = now or utcnow()
    delivery.unknown_reason = None
    delivery.started_at = None
    delivery.resolved_by_id = actor.person_id
    delivery.updated_at = utcnow()
    audit.record(session, actor, "delivery.retry", "post_delivery", delivery.id)
    await enqueue_delivery(session, delivery)
    post = await session.get(Post, delivery.post_id)
    if post is not None:
        await refresh_status(session, actor, post)
    return delivery


# -- reading ---------------------------------------------------------------------------------


async def get_post(session: AsyncSession, actor: Actor, post_id: int) -> Post:
    """One post of the actor's workspace (``post.view``)."""
    return await _post(session, actor, post_id, "post.view")


async def variants_of(session: AsyncSession, actor: Actor, post_id: int) -> list[PostVariant]:
    """A post's variants (one per channel)."""
    post = await _post(session, actor, post_id, "post.view")
    return list(
        (
            await session.scalars(
                select(PostVariant).where(PostVariant.post_id == post.id).order_by(PostVariant.id)
            )
        ).all()
    )


async def list_posts(
    session: AsyncSession, actor: Actor, filters: PostFilter | None = None, *, limit: int = 500
) -> list[Post]:
    """Posts of the actor's workspace matching ``filters``, by scheduled time then id."""
    authorize(actor, "post.view")
    f = filters or PostFilter()
    query = select(Post).where(Post.workspace_id == actor.workspace_id)
    if f.statuses is not None:
        query = query.where(Post.status.in_(list(f.statuses)))
    if f.department_id is not None:
        query = query.where(Post.department_id == f.department_id)
    if f.campaign_id is not None:
        query = query.where(Post.campaign_id == f.campaign_id)
    if f.author_id is not None:
        query = query.where(Post.author_id == f.author_id)
    if f.share_ready is not None:
        query = query.where(Post.share_ready.is_(f.share_ready))
    if f.channel_id is not None:
        query = query.where(
            Post.id.in_(select(PostVariant.post_id).where(PostVariant.channel_id == f.channel_id))
        )
    if f.start is not None:
        query = query.where(Post.scheduled_at >= f.start)
    if f.end is not None:
        query = query.where(Post.scheduled_at < f.end)
    query = query.order_by(Post.scheduled_at.is_(None), Post.scheduled_at, Post.id).limit(limit)
    return list((await session.scalars(query)).all())


# -- queue slots and campaigns ---------------------------------------------------------------


async def set_queue_slots(
    session: AsyncSession,
    actor: Actor,
    channel_id: int,
    slots: Sequence[tuple[int, int]],
    timezone: str,
) -> list[QueueSlot]:
    """Replace a channel's weekly slots: ``(weekday 0=Monday, minute of the day)`` in
    ``timezone`` (``queue.manage``)."""
    authorize(actor, "queue.manage")
    if actor.workspace_id is None:
        raise PermissionError("slots belong to a workspace")
    (channel,) = await _channels(session, actor.workspace_id, [channel_id])
    zone(timezone)
    clean = sorted({(int(d), int(m)) for d, m in slots})
    for weekday, minute in clean:
        if not (0 <= weekday <= 6 and 0 <= minute < 24 * 60):
            raise InvalidPost(f"not a weekly time: day {weekday}, minute {minute}")
    await session.execute(delete(QueueSlot).where(QueueSlot.channel_id == channel.id))
    rows = [
        QueueSlot(
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            weekday=weekday,
            minute=minute,
            timezone=timezone,
        )
        for weekday, minute in clean
    ]
    session.add_all(rows)
    await session.flush()
    audit.record(session, actor, "queue.set", "channel", channel.id, slots=clean, timezone=timezone)
    return rows


async def create_campaign(
    session: AsyncSession,
    actor: Actor,
    name: str,
    *,
    department_id: int | None = None,
    description: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> Campaign:
    """A new campaign (``campaign.manage``); names are unique per workspace."""
    authorize(actor, "campaign.manage")
    if actor.workspace_id is None:
        raise PermissionError("a campaign belongs to a workspace")
    name = name.strip()
    if not name:
        raise InvalidPost("a campaign needs a name")
    await _check_refs(session, actor.workspace_id, department_id, None)
    exists = await session.scalar(
        select(Campaign.id).where(
            Campaign.workspace_id == actor.workspace_id, Campaign.name == name
        )
    )
    if exists is not None:
        raise InvalidPost(f"a campaign named {name!r} exists already")
    campaign = Campaign(
        workspace_id=actor.workspace_id,
        department_id=department_id,
        name=name[:200],
        description=description,
        starts_at=starts_at,
        ends_at=ends_at,
    )
    session.add(campaign)
    await session.flush()
    audit.record(session, actor, "campaign.create", "campaign", campaign.id, name=name)
    return campaign
