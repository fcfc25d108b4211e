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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from allsang.authz import Actor
from allsang.db.models.publishing import (
    ApprovalChain,
    Post,
    PostComment,
    PostDelivery,
    QueueSlot,
)
from allsang.publishing.states import (  # noqa: F401  (re-exported for callers)
    ApprovalRequired,
    IllegalTransition,
    InvalidPost,
    NotApprover,
    NotFound,
    PublishingError,
)
from allsang.publishing.timing import FoldPolicy, GapPolicy


@dataclass(frozen=True, slots=True)
class PostFilter:
    """Filters of :func:`list_posts`; ``None`` means any. ``start``/``end`` (UTC) select posts
    whose ``scheduled_at`` falls in [start, end); unscheduled posts only when both are None."""

    statuses: Sequence[str] | None = None
    department_id: int | None = None
    campaign_id: int | None = None
    author_id: int | None = None
    channel_id: int | None = None
    share_ready: bool | None = None
    start: datetime | None = None
    end: datetime | None = None


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
    raise NotImplementedError


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
    in_review or approved post back to draft (its approvals no longer hold)."""
    raise NotImplementedError


async def submit_for_review(session: AsyncSession, actor: Actor, post_id: int) -> Post:
    """draft → in_review, waiting at the first step of the department's approval chain."""
    raise NotImplementedError


async def approve(session: AsyncSession, actor: Actor, post_id: int, note: str = "") -> Post:
    """Approve the step the post waits at (``post.review`` plus being one of the step's people
    or having its role; never one's own post). After the last step: in_review → approved."""
    raise NotImplementedError


async def reject(session: AsyncSession, actor: Actor, post_id: int, note: str) -> Post:
    """Reject at the current step with a reason: in_review → draft."""
    raise NotImplementedError


async def schedule(
    session: AsyncSession,
    actor: Actor,
    post_id: int,
    *,
    local_time: datetime | None = None,
    timezone: str | None = None,
    next_free_slot: bool = False,
    recurrence: str | None = None,
    on_gap: GapPolicy = "raise",
    on_fold: FoldPolicy = "raise",
    now: datetime | None = None,
) -> Post:
    """approved → scheduled (``post.schedule``). Either at ``local_time`` (naive) in
    ``timezone`` (default: the workspace's), or with ``next_free_slot`` at each channel's next
    queue slot not taken by another delivery. ``recurrence`` (an RRULE) repeats the post;
    occurrences are expanded up to the publishing horizon. A draft of an actor exempt from
    approval is approved on the way; anyone else's unapproved post raises ApprovalRequired."""
    raise NotImplementedError


async def publish_now(
    session: AsyncSession, actor: Actor, post_id: int, *, now: datetime | None = None
) -> Post:
    """Schedule an approved post for right now (same rules as :func:`schedule`)."""
    raise NotImplementedError


async def cancel(session: AsyncSession, actor: Actor, post_id: int) -> Post:
    """scheduled → approved: deliveries not yet started are cancelled (their jobs do nothing).
    Deliveries already publishing or published are kept."""
    raise NotImplementedError


async def comment(session: AsyncSession, actor: Actor, post_id: int, body: str) -> PostComment:
    """Add a comment to a post (``post.comment``)."""
    raise NotImplementedError


async def get_post(session: AsyncSession, actor: Actor, post_id: int) -> Post:
    """One post of the actor's workspace (``post.view``)."""
    raise NotImplementedError


async def list_posts(
    session: AsyncSession, actor: Actor, filters: PostFilter | None = None, *, limit: int = 500
) -> list[Post]:
    """Posts of the actor's workspace matching ``filters``, by scheduled time then id."""
    raise NotImplementedError


async def mark_published(
    session: AsyncSession, actor: Actor, delivery_id: int, *, url: str, external_id: str = ""
) -> PostDelivery:
    """A person confirms an outcome-unknown (or failed) delivery is on the network at ``url``
    (``post.manage``)."""
    raise NotImplementedError


async def retry_delivery(
    session: AsyncSession, actor: Actor, delivery_id: int, *, now: datetime | None = None
) -> PostDelivery:
    """A person decides an outcome-unknown or failed delivery did not go out: send it again
    now, with the same network idempotency key (``post.manage``)."""
    raise NotImplementedError


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
    raise NotImplementedError


async def set_queue_slots(
    session: AsyncSession,
    actor: Actor,
    channel_id: int,
    slots: Sequence[tuple[int, int]],
    timezone: str,
) -> list[QueueSlot]:
    """Replace a channel's weekly slots: ``(weekday 0=Monday, minute of the day)`` in
    ``timezone`` (``queue.manage``)."""
    raise NotImplementedError
