"""Editorial calendar: traditional items, calendar feeds, employee advocacy.

* A :class:`CalendarItem` is planned communication that is not a social post (press release,
  newsletter, event, web article, print, internal news). ``starts_at`` is the UTC instant;
  ``timezone`` keeps the zone it was planned in, so a feed can state TZID and a drag in the
  calendar keeps the wall-clock time across daylight saving time.
* A :class:`CalendarFeed` is a secret iCalendar URL for one person, department or campaign. Only
  the SHA-256 of its token is stored; revoking sets ``revoked_at``.
* A :class:`ChannelOwner` row makes a connected channel a person's own account (employee
  advocacy shares go out from it; nobody else may publish to it).
* An :class:`AdvocacyShare` records who shared which share-ready post from which own channel,
  and the publishing delivery that carries it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base, _created, _id
from allsang.db.types import BigId, UTCDateTime, utcnow

ITEM_KINDS = ("press_release", "newsletter", "event", "web_article", "print", "internal_news")
ITEM_STATUSES = ("idea", "planned", "in_progress", "ready", "done", "cancelled")
FEED_SCOPES = ("person", "department", "campaign")


class CalendarItem(Base):
    __tablename__ = "calendar_item"
    __table_args__ = (Index("ix_calendar_item_workspace_starts", "workspace_id", "starts_at"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="planned")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CalendarFeed(Base):
    __tablename__ = "calendar_feed"

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[int] = mapped_column(BigId)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChannelOwner(Base):
    __tablename__ = "channel_owner"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)


class AdvocacyShare(Base):
    __tablename__ = "advocacy_share"
    __table_args__ = (UniqueConstraint("post_id", "channel_id"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("post_delivery.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()
