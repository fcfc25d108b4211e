"""Publishing: posts, per-network variants, media, approvals, deliveries, queue slots.

Status and state columns are short strings checked by :mod:`allsang.publishing.states`.

* A :class:`Post` is one piece of content planned by one author; it goes out to one or more
  channels, each with its own :class:`PostVariant` (text and media for that network).
* ``Post.scheduled_at`` is the UTC instant; ``Post.timezone`` and ``Post.planned_local`` keep
  what the person chose (wall-clock time in that zone), so a recurring post stays at 09:00 local
  across daylight saving time and the calendar can show the time as it was planned.
* A :class:`PostDelivery` is one (post, channel, occurrence) to publish: its state, the
  idempotency key sent to the network and used for its job, the network's answer, the attempt
  count and the reasons of failures and unknown outcomes. Recurring posts have one delivery per
  channel and occurrence.
* :class:`ApprovalChain` (per department, or the workspace default when ``department_id`` is
  NULL) has ordered :class:`ApprovalStep` rows, each a minimum role or named people;
  :class:`PostApproval` rows are the decisions taken.
* :class:`QueueSlot` rows are a channel's weekly posting times in a time zone ("the next free
  slot").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base, _created, _id
from allsang.db.types import JSONType, UTCDateTime, utcnow


class Campaign(Base):
    """A named campaign posts and calendar items belong to."""

    __tablename__ = "campaign"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()


class Post(Base):
    """One post: content, author, workflow status and when it is planned to go out."""

    __tablename__ = "post"
    __table_args__ = (
        Index("ix_post_workspace_scheduled", "workspace_id", "scheduled_at"),
        Index("ix_post_workspace_status", "workspace_id", "status"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="SET NULL"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    # The approval chain the post was submitted to, and the position of the step waiting.
    approval_chain_id: Mapped[int | None] = mapped_column(
        ForeignKey("approval_chain.id", ondelete="SET NULL")
    )
    approval_step: Mapped[int] = mapped_column(Integer, default=0)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    planned_local: Mapped[str | None] = mapped_column(String(19))  # "2026-03-29T09:00:00"
    recurrence: Mapped[str | None] = mapped_column(Text)  # RFC 5545 RRULE, local wall clock
    recurrence_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # expanded up to
    share_ready: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PostVariant(Base):
    """What the post says on one channel; empty ``text`` means the post's body."""

    __tablename__ = "post_variant"
    __table_args__ = (UniqueConstraint("post_id", "channel_id"),)

    id: Mapped[int] = _id()
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text, default="")
    media_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)


class PostMedia(Base):
    """An uploaded file, stored under ``<data_dir>/media/`` (``path`` is relative to it)."""

    __tablename__ = "post_media"

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("post.id", ondelete="CASCADE"), index=True
    )
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(300), default="")
    content_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # image, video, gif, audio
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    alt_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class PostDelivery(Base):
    """One (post, channel, occurrence) to publish. ``idempotency_key`` is unique and names the
    delivery (``publish:<post>:<channel>:<due UTC>``): its job and the network's key."""

    __tablename__ = "post_delivery"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_post_delivery_state_due", "state", "due_at"),
        Index("ix_post_delivery_post", "post_id"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default="scheduled")
    idempotency_key: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")  # exactly what was (to be) sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last "publishing"
    external_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    unknown_reason: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    # What the network reported when last asked (allsang.publishing.engagement); None: never.
    likes: Mapped[int | None] = mapped_column(Integer)
    reposts: Mapped[int | None] = mapped_column(Integer)
    replies: Mapped[int | None] = mapped_column(Integer)
    engagement_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ApprovalChain(Base):
    """A department's approval steps (``department_id`` NULL: the workspace default).

    ``editors_exempt``: posts by editors and above need no approval in this chain."""

    __tablename__ = "approval_chain"

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    editors_exempt: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()


class ApprovalStep(Base):
    """One step: anyone with at least ``role``, or one of ``person_ids`` (named people)."""

    __tablename__ = "approval_step"
    __table_args__ = (UniqueConstraint("chain_id", "position"),)

    id: Mapped[int] = _id()
    chain_id: Mapped[int] = mapped_column(ForeignKey("approval_chain.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str | None] = mapped_column(String(20))
    person_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)


class PostApproval(Base):
    """A decision on a post at one step: ``approved`` or ``rejected`` (with a note)."""

    __tablename__ = "post_approval"
    __table_args__ = (Index("ix_post_approval_post", "post_id"),)

    id: Mapped[int] = _id()
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("approval_step.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class PostComment(Base):
    """A comment on a post (drafts are discussed before approval)."""

    __tablename__ = "post_comment"
    __table_args__ = (Index("ix_post_comment_post", "post_id"),)

    id: Mapped[int] = _id()
    post_id: Mapped[int] = mapped_column(ForeignKey("post.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class QueueSlot(Base):
    """A weekly posting time of a channel: ``weekday`` 0 = Monday, ``minute`` of the local day,
    in ``timezone``."""

    __tablename__ = "queue_slot"
    __table_args__ = (UniqueConstraint("channel_id", "weekday", "minute"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)
    minute: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))


class PublishingIncident(Base):
    """An open or closed "the publishing queue is not draining" incident of a workspace, so
    the dead-man alarm fires once per incident."""

    __tablename__ = "publishing_incident"
    __table_args__ = (Index("ix_publishing_incident_workspace", "workspace_id", "closed_at"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    opened_at: Mapped[datetime] = _created()
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    oldest_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
