"""Employee advocacy: editors mark posts share-ready, colleagues share them from their own
accounts, editors see who shared what.

* A person's own accounts are channels with a :class:`ChannelOwner` row naming them (an editor
  assigns a connected channel to its owner). Only that person shares through it.
* :func:`share` creates a :class:`PostDelivery` for (post, own channel) due now and enqueues
  the publishing engine's delivery job in the same transaction, so a share goes out exactly
  once like any post (its idempotency key is fixed per post and channel: sharing the same post
  twice from one account is refused, not published twice).
* Sharing needs no approval step of its own: the post was approved before it was marked
  share-ready, and only approved, scheduled or published posts are offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor, authorize
from allsang.connectors import limits
from allsang.db.models import Channel, Person
from allsang.db.models.calendar import AdvocacyShare, ChannelOwner
from allsang.db.models.publishing import Post, PostDelivery
from allsang.db.types import utcnow
from allsang.publishing import service
from allsang.publishing.calendar import ADVOCACY_KEY_PREFIX
from allsang.publishing.states import InvalidPost, NotFound

SHAREABLE = ("approved", "scheduled", "publishing", "published")


@dataclass(frozen=True, slots=True)
class ShareRow:
    share: AdvocacyShare
    post_title: str
    person_name: str
    channel_name: str
    state: str
    url: str | None


def _key(post_id: int, channel_id: int) -> str:
    return f"{ADVOCACY_KEY_PREFIX}{post_id}:{channel_id}"


async def set_share_ready(session: AsyncSession, actor: Actor, post_id: int, ready: bool) -> Post:
    """Offer (or withdraw) an approved post to colleagues (``advocacy.manage``). Does not touch
    the post's approval: sharing copies the approved text."""
    authorize(actor, "advocacy.manage")
    post = await service.get_post(session, actor, post_id)
    if ready and post.status not in SHAREABLE:
        raise InvalidPost("only an approved post can be offered for sharing")
    post.share_ready = ready
    audit.record(session, actor, "advocacy.share_ready", "post", post.id, ready=ready)
    return post


async def own_channels(session: AsyncSession, actor: Actor) -> list[Channel]:
    authorize(actor, "advocacy.share")
    return list(
        (
            await session.scalars(
                select(Channel)
                .join(ChannelOwner, ChannelOwner.channel_id == Channel.id)
                .where(
                    Channel.workspace_id == actor.workspace_id,
                    ChannelOwner.person_id == actor.person_id,
                )
                .order_by(Channel.name)
            )
        ).all()
    )


async def set_channel_owner(
    session: AsyncSession, actor: Actor, channel_id: int, person_id: int | None
) -> None:
    """Make a connected channel someone's own account, or the organisation's again (None)."""
    authorize(actor, "advocacy.manage")
    channel = await session.get(Channel, channel_id)
    if channel is None or channel.workspace_id != actor.workspace_id:
        raise NotFound("no such channel")
    authorize(actor, "channel.update", channel)
    existing = await session.get(ChannelOwner, channel_id)
    if existing is not None:
        await session.delete(existing)
        await session.flush()
    if person_id is not None:
        session.add(ChannelOwner(channel_id=channel_id, person_id=person_id))
    audit.record(session, actor, "advocacy.channel_owner", "channel", channel_id, person=person_id)


async def feed(session: AsyncSession, actor: Actor, *, limit: int = 100) -> list[Post]:
    """Share-ready posts, newest first."""
    authorize(actor, "advocacy.share")
    return list(
        (
            await session.scalars(
                select(Post)
                .where(
                    Post.workspace_id == actor.workspace_id,
                    Post.share_ready.is_(True),
                    Post.status.in_(SHAREABLE),
                )
                .order_by(Post.scheduled_at.desc().nulls_last(), Post.id.desc())
                .limit(limit)
            )
        ).all()
    )


async def shared_by(session: AsyncSession, actor: Actor) -> set[tuple[int, int]]:
    """(post id, channel id) pairs the actor has shared."""
    rows = await session.execute(
        select(AdvocacyShare.post_id, AdvocacyShare.channel_id).where(
            AdvocacyShare.workspace_id == actor.workspace_id,
            AdvocacyShare.person_id == actor.person_id,
        )
    )
    return {(p, c) for p, c in rows}


async def share(
    session: AsyncSession,
    actor: Actor,
    post_id: int,
    channel_id: int,
    *,
    text: str | None = None,
    now: datetime | None = None,
) -> AdvocacyShare:
    """Share a share-ready post from the actor's own channel now (``advocacy.share``)."""
    authorize(actor, "advocacy.share")
    now = now or utcnow()
    post = await session.get(Post, post_id)
    if post is None or post.workspace_id != actor.workspace_id:
        raise NotFound("no such post")
    if not post.share_ready or post.status not in SHAREABLE:
        raise InvalidPost("this post is not offered for sharing")
    owner = await session.get(ChannelOwner, channel_id)
    channel = await session.get(Channel, channel_id)
    if owner is None or channel is None or owner.person_id != actor.person_id:
        raise NotFound("that is not one of your own accounts")
    words = (text or "").strip() or post.body.strip()
    limits.check(channel.network, words, config=channel.config)
    existing = await session.scalar(
        select(AdvocacyShare).where(
            AdvocacyShare.post_id == post.id, AdvocacyShare.channel_id == channel_id
        )
    )
    if existing is not None:
        raise InvalidPost("you have already shared this post from that account")
    delivery = PostDelivery(
        workspace_id=post.workspace_id,
        post_id=post.id,
        channel_id=channel_id,
        due_at=now,
        state="scheduled",
        idempotency_key=_key(post.id, channel_id),
        text=words,
        attempts=0,
    )
    session.add(delivery)
    await session.flush()
    await service.enqueue_delivery(session, delivery)
    row = AdvocacyShare(
        workspace_id=post.workspace_id,
        post_id=post.id,
        person_id=actor.person_id,
        channel_id=channel_id,
        delivery_id=delivery.id,
        text=words,
    )
    session.add(row)
    await session.flush()
    audit.record(session, actor, "advocacy.shared", "post", post.id, channel=channel_id)
    return row


async def who_shared(session: AsyncSession, actor: Actor, *, limit: int = 500) -> list[ShareRow]:
    """Every share with its person, account and delivery state, newest first (editors)."""
    authorize(actor, "advocacy.manage")
    rows = await session.execute(
        select(AdvocacyShare, Post, Person.name, Channel.name, PostDelivery)
        .join(Post, Post.id == AdvocacyShare.post_id)
        .join(Channel, Channel.id == AdvocacyShare.channel_id)
        .outerjoin(Person, Person.id == AdvocacyShare.person_id)
        .outerjoin(PostDelivery, PostDelivery.id == AdvocacyShare.delivery_id)
        .where(AdvocacyShare.workspace_id == actor.workspace_id)
        .order_by(AdvocacyShare.id.desc())
        .limit(limit)
    )
    return [
        ShareRow(
            share=share_row,
            post_title=post.title or post.body[:80],
            person_name=person_name or "",
            channel_name=channel_name,
            state=delivery.state if delivery else "cancelled",
            url=delivery.url if delivery else None,
        )
        for share_row, post, person_name, channel_name, delivery in rows
    ]
