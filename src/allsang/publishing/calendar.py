"""The editorial calendar: social posts and traditional items (press releases, newsletters,
events, web articles, print, internal news) on one time line.

Contracts:

* Every function takes an :class:`~allsang.authz.Actor`, authorises, works in the caller's
  session (``db.read()`` for reads, ``db.write()`` for changes) and audits each change there.
* :func:`entries` returns :class:`Entry` rows between two UTC instants: a post appears once
  per distinct delivery time (a recurring post once per occurrence) or, before it has
  deliveries, at its planned ``scheduled_at``. Posts without a time are not on the calendar.
* Times people give are naive wall-clock times in a named IANA zone; moving keeps the zone
  the entry was planned in, and a time in the spring-forward gap moves forward by the gap,
  a time in the autumn fold takes the first occurrence (the calendar shows no dialog for it).

Rescheduling rules (the workflow, decided here and documented in docs/calendar.md):

* An approval covers the content and the channels, not the time, so moving an approved or
  scheduled post keeps its approval. A scheduled post is cancelled and scheduled again through
  the publishing service (both steps audited there) so its deliveries and jobs follow.
* Authors move their own posts (``post.schedule``); anyone else's needs ``post.manage``.
* A post whose delivery has started (publishing, published, failed, outcome unknown) or a
  recurring post cannot be moved from the calendar: that would rewrite what already went out.
* Nothing is moved into the past.
* Traditional items: their owner or creator moves and edits them (``calendar.edit``), anyone
  else needs ``calendar.manage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor, Forbidden, authorize, can
from allsang.db.models import Channel
from allsang.db.models.calendar import ITEM_KINDS, ITEM_STATUSES, CalendarItem
from allsang.db.models.publishing import Campaign, Post, PostDelivery, PostVariant
from allsang.db.types import utcnow
from allsang.publishing import service
from allsang.publishing.states import NotFound, PublishingError
from allsang.publishing.timing import to_local, to_utc, zone

# Posts in these statuses have (or may have) reached a network: their time is history.
FIXED_POST_STATUSES = frozenset({"publishing", "published", "failed", "outcome_unknown"})
# Colleagues' shares (allsang.publishing.advocacy) are deliveries too, but not the plan.
ADVOCACY_KEY_PREFIX = "advocacy:"


class CalendarError(PublishingError):
    """A calendar change that cannot be made; ``str()`` is meant for people."""


@dataclass(frozen=True, slots=True)
class CalendarFilter:
    """``None`` means any. ``channel_id`` selects posts to that channel (items have none);
    ``status`` matches a post's or an item's status."""

    department_id: int | None = None
    campaign_id: int | None = None
    channel_id: int | None = None
    status: str | None = None
    owner_id: int | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing on the calendar. ``kind`` is ``"post"`` or an item kind."""

    kind: str
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime | None
    all_day: bool
    timezone: str
    status: str
    owner_id: int | None
    department_id: int | None
    campaign_id: int | None
    channel_ids: tuple[int, ...] = ()
    recurring: bool = False

    @property
    def ref(self) -> str:
        """A stable key for forms and the browser: ``post-12`` or ``item-3``."""
        return f"{'post' if self.kind == 'post' else 'item'}-{self.id}"

    @property
    def is_post(self) -> bool:
        return self.kind == "post"


@dataclass(frozen=True, slots=True)
class ItemFields:
    kind: str
    title: str
    starts_local: datetime
    timezone: str
    description: str = ""
    status: str = "planned"
    ends_local: datetime | None = None
    all_day: bool = False
    owner_id: int | None = None
    department_id: int | None = None
    campaign_id: int | None = None


def _workspace(actor: Actor) -> int:
    if actor.workspace_id is None:
        raise Forbidden(actor, "calendar.view")
    return actor.workspace_id


def _title(post: Post | Row[Any]) -> str:
    if post.title:
        return post.title
    first = post.body.strip().splitlines()[0] if post.body.strip() else ""
    return first[:80] + ("…" if len(first) > 80 else "")


async def entries(
    session: AsyncSession,
    actor: Actor,
    start: datetime,
    end: datetime,
    filters: CalendarFilter | None = None,
) -> list[Entry]:
    """Posts and items of the actor's workspace in [start, end) (UTC), by time then kind/id."""
    authorize(actor, "calendar.view")
    workspace_id = _workspace(actor)
    f = filters or CalendarFilter()
    found: list[Entry] = []

    # Plain rows, not ORM objects: a busy month has thousands of posts.
    post_query = select(
        Post.id,
        Post.title,
        func.substr(Post.body, 1, 200).label("body"),
        Post.status,
        Post.scheduled_at,
        Post.timezone,
        Post.author_id,
        Post.department_id,
        Post.campaign_id,
        Post.recurrence,
    ).where(Post.workspace_id == workspace_id)
    if f.department_id is not None:
        post_query = post_query.where(Post.department_id == f.department_id)
    if f.campaign_id is not None:
        post_query = post_query.where(Post.campaign_id == f.campaign_id)
    if f.status is not None:
        post_query = post_query.where(Post.status == f.status)
    if f.owner_id is not None:
        post_query = post_query.where(Post.author_id == f.owner_id)
    if f.channel_id is not None:
        post_query = post_query.where(
            Post.id.in_(select(PostVariant.post_id).where(PostVariant.channel_id == f.channel_id))
        )
    # A post is in range by its planned time or by any of its deliveries.
    in_range = select(PostDelivery.post_id).where(
        PostDelivery.workspace_id == workspace_id,
        ~PostDelivery.idempotency_key.startswith(ADVOCACY_KEY_PREFIX),
        PostDelivery.due_at >= start,
        PostDelivery.due_at < end,
        PostDelivery.state != "cancelled",
    )
    post_query = post_query.where(
        ((Post.scheduled_at >= start) & (Post.scheduled_at < end)) | Post.id.in_(in_range)
    )
    posts = list((await session.execute(post_query)).all())
    post_ids = [p.id for p in posts]
    channels: dict[int, list[int]] = {}
    times: dict[int, set[datetime]] = {}
    if post_ids:
        for post_id, channel_id in await session.execute(
            select(PostVariant.post_id, PostVariant.channel_id)
            .where(PostVariant.post_id.in_(post_ids))
            .order_by(PostVariant.channel_id)
        ):
            channels.setdefault(post_id, []).append(channel_id)
        for post_id, due_at in await session.execute(
            select(PostDelivery.post_id, PostDelivery.due_at).where(
                PostDelivery.post_id.in_(post_ids),
                ~PostDelivery.idempotency_key.startswith(ADVOCACY_KEY_PREFIX),
                PostDelivery.state != "cancelled",
                PostDelivery.due_at >= start,
                PostDelivery.due_at < end,
            )
        ):
            times.setdefault(post_id, set()).add(due_at)
    for post in posts:
        instants = times.get(post.id) or (
            {post.scheduled_at} if post.scheduled_at is not None else set()
        )
        for instant in sorted(instants):
            found.append(
                Entry(
                    kind="post",
                    id=post.id,
                    title=_title(post),
                    starts_at=instant,
                    ends_at=None,
                    all_day=False,
                    timezone=post.timezone,
                    status=post.status,
                    owner_id=post.author_id,
                    department_id=post.department_id,
                    campaign_id=post.campaign_id,
                    channel_ids=tuple(channels.get(post.id, ())),
                    recurring=bool(post.recurrence),
                )
            )

    if f.channel_id is None:
        item_query = select(CalendarItem).where(
            CalendarItem.workspace_id == workspace_id,
            CalendarItem.starts_at < end,
            # An item that started earlier but is still running is on the calendar too.
            ((CalendarItem.ends_at.is_(None)) & (CalendarItem.starts_at >= start))
            | (CalendarItem.ends_at > start),
        )
        if f.department_id is not None:
            item_query = item_query.where(CalendarItem.department_id == f.department_id)
        if f.campaign_id is not None:
            item_query = item_query.where(CalendarItem.campaign_id == f.campaign_id)
        if f.status is not None:
            item_query = item_query.where(CalendarItem.status == f.status)
        if f.owner_id is not None:
            item_query = item_query.where(CalendarItem.owner_id == f.owner_id)
        for item in await session.scalars(item_query):
            found.append(
                Entry(
                    kind=item.kind,
                    id=item.id,
                    title=item.title,
                    starts_at=item.starts_at,
                    ends_at=item.ends_at,
                    all_day=item.all_day,
                    timezone=item.timezone,
                    status=item.status,
                    owner_id=item.owner_id,
                    department_id=item.department_id,
                    campaign_id=item.campaign_id,
                )
            )
    found.sort(key=lambda e: (e.starts_at, e.kind != "post", e.id))
    return found


# --- traditional items ------------------------------------------------------------------------


async def _check_refs(session: AsyncSession, workspace_id: int, fields: ItemFields) -> None:
    if fields.kind not in ITEM_KINDS:
        raise CalendarError(f"unknown kind {fields.kind!r}")
    if fields.status not in ITEM_STATUSES:
        raise CalendarError(f"unknown status {fields.status!r}")
    if not fields.title.strip() or len(fields.title) > 300:
        raise CalendarError("a title of 1 to 300 characters is needed")
    if fields.campaign_id is not None:
        campaign = await session.get(Campaign, fields.campaign_id)
        if campaign is None or campaign.workspace_id != workspace_id:
            raise NotFound("no such campaign")


def _span(fields: ItemFields) -> tuple[datetime, datetime | None]:
    zone(fields.timezone)
    if fields.all_day:
        # All-day items are dates: store local midnight of the first day and of the day after.
        first = datetime.combine(fields.starts_local.date(), time())
        last = fields.ends_local.date() if fields.ends_local else first.date()
        starts = to_utc(first, fields.timezone, on_gap="later", on_fold="earlier")
        ends = to_utc(
            datetime.combine(last + timedelta(days=1), time()),
            fields.timezone,
            on_gap="later",
            on_fold="earlier",
        )
        return starts, ends
    starts = to_utc(fields.starts_local, fields.timezone, on_gap="later", on_fold="earlier")
    ends = (
        to_utc(fields.ends_local, fields.timezone, on_gap="later", on_fold="earlier")
        if fields.ends_local
        else None
    )
    if ends is not None and ends <= starts:
        raise CalendarError("the end must be after the start")
    return starts, ends


async def create_item(session: AsyncSession, actor: Actor, fields: ItemFields) -> CalendarItem:
    """A new traditional item (``calendar.edit``); the owner defaults to the actor."""
    authorize(actor, "calendar.edit")
    workspace_id = _workspace(actor)
    await _check_refs(session, workspace_id, fields)
    starts, ends = _span(fields)
    item = CalendarItem(
        workspace_id=workspace_id,
        kind=fields.kind,
        title=fields.title.strip(),
        description=fields.description,
        status=fields.status,
        starts_at=starts,
        ends_at=ends,
        all_day=fields.all_day,
        timezone=fields.timezone,
        owner_id=fields.owner_id if fields.owner_id is not None else actor.person_id,
        department_id=fields.department_id,
        campaign_id=fields.campaign_id,
        created_by_id=actor.person_id,
    )
    session.add(item)
    await session.flush()
    audit.record(session, actor, "calendar.item_created", "calendar_item", item.id, kind=item.kind)
    return item


async def get_item(session: AsyncSession, actor: Actor, item_id: int) -> CalendarItem:
    authorize(actor, "calendar.view")
    item = await session.get(CalendarItem, item_id)
    if item is None or item.workspace_id != _workspace(actor):
        raise NotFound("no such calendar item")
    return item


def _authorize_item_change(actor: Actor, item: CalendarItem) -> None:
    own = actor.person_id is not None and actor.person_id in (item.owner_id, item.created_by_id)
    authorize(actor, "calendar.edit" if own else "calendar.manage", item)


async def update_item(
    session: AsyncSession, actor: Actor, item_id: int, fields: ItemFields
) -> CalendarItem:
    item = await get_item(session, actor, item_id)
    _authorize_item_change(actor, item)
    await _check_refs(session, item.workspace_id, fields)
    item.starts_at, item.ends_at = _span(fields)
    item.kind = fields.kind
    item.title = fields.title.strip()
    item.description = fields.description
    item.status = fields.status
    item.all_day = fields.all_day
    item.timezone = fields.timezone
    item.owner_id = fields.owner_id
    item.department_id = fields.department_id
    item.campaign_id = fields.campaign_id
    audit.record(session, actor, "calendar.item_updated", "calendar_item", item.id)
    return item


async def delete_item(session: AsyncSession, actor: Actor, item_id: int) -> None:
    item = await get_item(session, actor, item_id)
    _authorize_item_change(actor, item)
    await session.delete(item)
    audit.record(session, actor, "calendar.item_deleted", "calendar_item", item_id)


# --- moving -----------------------------------------------------------------------------------


def shifted_instant(
    current: datetime, new_day: date, new_time: time | None, viewer_tz: str
) -> datetime:
    """Where an entry shown at ``current`` lands when dropped on ``new_day`` (and optionally
    ``new_time``) of a calendar drawn in ``viewer_tz``: the same wall-clock time of day as the
    viewer saw it unless a time is given. DST-safe: computed in local time, then converted."""
    local = to_local(current, viewer_tz)
    target = datetime.combine(new_day, new_time or local.time().replace(microsecond=0))
    return to_utc(target, viewer_tz, on_gap="later", on_fold="earlier")


async def move(
    session: AsyncSession,
    actor: Actor,
    ref: str,
    instant: datetime,
    *,
    now: datetime | None = None,
) -> Entry | None:
    """Move ``post-N`` or ``item-N`` so it starts at the UTC ``instant`` (items keep their
    length), following the rules in the module docstring. Raises CalendarError, NotFound,
    Forbidden, or the publishing service's errors."""
    now = now or utcnow()
    kind, _sep, raw_id = ref.partition("-")
    if not raw_id.isdigit() or kind not in ("post", "item"):
        raise NotFound("no such calendar entry")
    if instant <= now:
        raise CalendarError("cannot move into the past")
    if kind == "item":
        item = await get_item(session, actor, int(raw_id))
        _authorize_item_change(actor, item)
        if item.all_day:
            # Dates move whole: the first local day becomes the target's local day.
            day = to_local(instant, item.timezone).date()
            length_days = (
                to_local(item.ends_at, item.timezone).date()
                - to_local(item.starts_at, item.timezone).date()
                if item.ends_at
                else timedelta(days=1)
            )
            item.starts_at = to_utc(
                datetime.combine(day, time()), item.timezone, on_gap="later", on_fold="earlier"
            )
            item.ends_at = to_utc(
                datetime.combine(day + length_days, time()),
                item.timezone,
                on_gap="later",
                on_fold="earlier",
            )
        else:
            duration = item.ends_at - item.starts_at if item.ends_at else None
            item.starts_at = instant
            item.ends_at = instant + duration if duration is not None else None
        audit.record(
            session,
            actor,
            "calendar.item_moved",
            "calendar_item",
            item.id,
            starts_at=item.starts_at.isoformat(),
        )
        return None
    post = await session.get(Post, int(raw_id))
    if post is None or post.workspace_id != _workspace(actor):
        raise NotFound("no such post")
    own = actor.person_id is not None and actor.person_id == post.author_id
    authorize(actor, "post.schedule" if own else "post.manage", post)
    if post.status in FIXED_POST_STATUSES:
        raise CalendarError("a post that has started publishing cannot be moved")
    if post.recurrence:
        raise CalendarError("a recurring post is moved in the composer, not the calendar")
    local = to_local(instant, post.timezone)
    if post.status == "scheduled":
        # Keep the approval: cancel and schedule again at the new time (both audited).
        await service.cancel(session, actor, post.id)
        await service.schedule(
            session, actor, post.id, local_time=local, timezone=post.timezone, now=now
        )
    else:
        post.scheduled_at = instant
        post.planned_local = local.isoformat(timespec="seconds")
    audit.record(session, actor, "post.moved", "post", post.id, scheduled_at=instant.isoformat())
    return None


async def channel_names(session: AsyncSession, workspace_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(Channel.id, Channel.name, Channel.network).where(
            Channel.workspace_id == workspace_id
        )
    )
    return {cid: f"{name} ({network})" for cid, name, network in rows}


async def campaigns(session: AsyncSession, workspace_id: int) -> Sequence[Campaign]:
    return (
        await session.scalars(
            select(Campaign).where(Campaign.workspace_id == workspace_id).order_by(Campaign.name)
        )
    ).all()


def can_move(actor: Actor, entry: Entry) -> bool:
    """Whether the calendar offers moving ``entry`` to ``actor`` (the server checks again)."""
    own = actor.person_id is not None and actor.person_id == entry.owner_id
    if entry.is_post:
        if entry.status in FIXED_POST_STATUSES or entry.recurring:
            return False
        return can(actor, "post.schedule" if own else "post.manage")
    return can(actor, "calendar.edit" if own else "calendar.manage")
