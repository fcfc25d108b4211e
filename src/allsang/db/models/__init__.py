"""Domain model v1: the tables every capability builds on.

Conventions: integer ids; ``UTCDateTime`` for every instant; ``workspace_id`` on every row that
belongs to a tenant (queries always filter on it); relationships are ``lazy="raise"`` so async
code must load what it uses explicitly; enum-like columns are short strings checked by the
domain code (portable and easy to migrate).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from allsang.db.types import BigId, JSONType, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CONVERSATION_STATUSES = ("new", "open", "pending", "snoozed", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
DIRECTIONS = ("inbound", "outbound", "note")
MESSAGE_KINDS = ("post", "reply", "comment", "dm", "review", "article", "email")
CHANNEL_STATES = ("active", "paused", "reconnect_needed", "failing", "pending")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _id() -> Mapped[int]:
    return mapped_column(BigId, primary_key=True, autoincrement=True)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Workspace(Base):
    __tablename__ = "workspace"

    id: Mapped[int] = _id()
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Stockholm")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = _created()


class Person(Base):
    """Someone who logs in. A person can belong to several workspaces through memberships."""

    __tablename__ = "person"

    id: Mapped[int] = _id()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Department(Base):
    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class Membership(Base):
    """A person's role in a workspace."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("workspace_id", "person_id"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = _created()

    person: Mapped[Person] = relationship(lazy="raise")


class DepartmentMember(Base):
    __tablename__ = "department_member"
    __table_args__ = (UniqueConstraint("department_id", "person_id"),)

    id: Mapped[int] = _id()
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)


class Channel(Base):
    """A connected account on a network. Credentials are SecretBox ciphertext, never plain."""

    __tablename__ = "channel"

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    network: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    account: Mapped[str] = mapped_column(String(320), default="")
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="active")
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_item_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()


class Contact(Base):
    """An author on a network, as seen by one workspace."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("workspace_id", "network", "handle"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    handle: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(320), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    profile: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = _created()


class Conversation(Base):
    __tablename__ = "conversation"
    __table_args__ = (
        Index("ix_conversation_inbox", "workspace_id", "status", "last_message_at"),
        Index("ix_conversation_activity", "workspace_id", "last_message_at", "id"),
        Index("ix_conversation_assignee", "workspace_id", "assignee_id", "status"),
        Index("ix_conversation_thread", "channel_id", "thread_key"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"), index=True
    )
    # How ingest finds the conversation again: "dm:<contact id>" for direct messages,
    # "root:<external id>" for a thread started by a message.
    thread_key: Mapped[str | None] = mapped_column(String(600))
    subject: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="new")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Routing: when the pending (first or next) response is due, and when that was missed.
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    sla_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """An inbound or outbound message, or an internal note (direction ``note``).

    Unique on (channel, external id): the ingest sink relies on it to be idempotent.
    """

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        Index("ix_message_conversation", "conversation_id", "created_at"),
        Index(
            "ix_message_conversation_inbound", "conversation_id", "direction", "lang", "sentiment"
        ),
        Index("ix_message_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="SET NULL"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL")
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    author_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10), default="post")
    external_id: Mapped[str | None] = mapped_column(String(512))
    in_reply_to: Mapped[str | None] = mapped_column(String(512))
    url: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    lang: Mapped[str | None] = mapped_column(String(8))
    sentiment: Mapped[str | None] = mapped_column(String(3))
    sentiment_score: Mapped[float | None] = mapped_column()
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = _created()


class QuarantinedItem(Base):
    """An inbound item that failed normalisation or validation, kept with its reason."""

    __tablename__ = "quarantined_item"
    __table_args__ = (Index("ix_quarantined_item_open", "workspace_id", "resolved_at"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))


class Tag(Base):
    __tablename__ = "tag"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(7), default="#6b7280")


class ConversationTag(Base):
    __tablename__ = "conversation_tag"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True)


class AuditEvent(Base):
    """One state change: who did what to which resource. Written in the change's transaction."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    actor_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(80))
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = _created()


class LoginSession(Base):
    """A server-side session. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "login_session"

    id: Mapped[int] = _id()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A bearer token for the JSON API. Only the SHA-256 of the token is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    """Failed logins, for rate limiting across every web process."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_key_at", "key", "attempted_at"),)

    id: Mapped[int] = _id()
    key: Mapped[str] = mapped_column(String(400))
    attempted_at: Mapped[datetime] = _created()


class Job(Base):
    """A durable job. See :mod:`allsang.jobs` for the life cycle."""

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_due", "status", "run_at"),
        UniqueConstraint("idempotency_key"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    run_at: Mapped[datetime] = _created()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KeyCheck(Base):
    """A value encrypted with the current key, so a wrong key is found before it does harm."""

    __tablename__ = "key_check"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[bytes] = mapped_column(LargeBinary)


class ListeningQuery(Base):
    """A saved listening query (SPEC §2C). ``query`` always parses: the store refuses others."""

    __tablename__ = "listening_query"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    query: Mapped[str] = mapped_column(Text)
    fold: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Alert(Base):
    """An alert shown in the app and sent to the workspace's Apprise URLs.

    ``dedup_key`` (the alert key and its window) is unique per workspace, so a second alert
    for the same key in the same window is never stored. ``status``: ``pending`` (to send),
    ``held`` (quiet hours), ``sent``, ``failed``, ``summarised`` (sent inside a digest).
    """

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedup_key"),
        Index("ix_alert_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(300))
    dedup_key: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class ListeningState(Base):
    """Serialised detector state (trends), so a restarted worker resumes where it stopped."""

    __tablename__ = "listening_state"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Wall(Base):
    """A social-wall screen (SPEC §2G). Only the SHA-256 of the display token is stored.

    ``moderation`` is ``auto`` (rules approve or reject) or ``manual`` (rules may reject; what
    passes waits in the queue). ``cursor_message_id`` is the newest message already evaluated.
    """

    __tablename__ = "wall"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    hashtag: Mapped[str] = mapped_column(String(100), default="")
    event_url: Mapped[str] = mapped_column(Text, default="")
    layout: Mapped[str] = mapped_column(String(10), default="grid")
    background: Mapped[str] = mapped_column(String(7), default="#10162f")
    foreground: Mapped[str] = mapped_column(String(7), default="#ffffff")
    accent: Mapped[str] = mapped_column(String(7), default="#ffcc33")
    logo_url: Mapped[str] = mapped_column(Text, default="")
    moderation: Mapped[str] = mapped_column(String(10), default="manual")
    display_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    cursor_message_id: Mapped[int] = mapped_column(BigId, default=0)
    created_at: Mapped[datetime] = _created()
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WallSource(Base):
    """Where a wall's posts come from: a listening query, a hashtag, a channel or own posts."""

    __tablename__ = "wall_source"

    id: Mapped[int] = _id()
    wall_id: Mapped[int] = mapped_column(ForeignKey("wall.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    query_id: Mapped[int | None] = mapped_column(
        ForeignKey("listening_query.id", ondelete="CASCADE")
    )
    hashtag: Mapped[str] = mapped_column(String(100), default="")
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))


class WallRule(Base):
    """One automatic moderation rule; ``value`` depends on ``kind`` (see allsang.wall.rules)."""

    __tablename__ = "wall_rule"

    id: Mapped[int] = _id()
    wall_id: Mapped[int] = mapped_column(ForeignKey("wall.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class WallItem(Base):
    """A message's state on one wall: pending, approved, rejected or pinned."""

    __tablename__ = "wall_item"
    __table_args__ = (
        UniqueConstraint("wall_id", "message_id"),
        Index("ix_wall_item_state", "wall_id", "state"),
    )

    id: Mapped[int] = _id()
    wall_id: Mapped[int] = mapped_column(ForeignKey("wall.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(10))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = _created()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WallEvent(Base):
    """The append-only log a screen replays: ``add``, ``remove`` or ``pin`` of a message.

    ``seq`` increases per wall (unique with the wall) and is the SSE event id.
    """

    __tablename__ = "wall_event"
    __table_args__ = (UniqueConstraint("wall_id", "seq"),)

    id: Mapped[int] = _id()
    wall_id: Mapped[int] = mapped_column(ForeignKey("wall.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(10))
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = _created()


class ConversationRead(Base):
    """When a person last read a conversation: it is unread for them while
    ``conversation.last_message_at`` is later (or no row exists)."""

    __tablename__ = "conversation_read"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[datetime] = _created()


class SavedView(Base):
    """A person's named inbox filter: the list's query string, as they saved it."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("workspace_id", "person_id", "name"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class Notification(Base):
    """Something for one person to see (kind ``mention``: a note mentioned them)."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_person_read", "person_id", "read_at"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    actor_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL")
    )
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE")
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = _created()
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Each area keeps its tables in a module of its own; importing them here registers the tables
# on Base.metadata, so migrations, the schema test and the test fixtures see every table.
from allsang.db.models import (  # noqa: E402, F401
    analytics,
    calendar,
    continuity,
    inbox_facets,
    inbox_search,
    inbox_workflow,
    ingest,
    publishing,
    routing,
    wall_media,
)
