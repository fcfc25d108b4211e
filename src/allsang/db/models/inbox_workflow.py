"""Inbox workflow: snooze, saved replies, reply approval.

* ``conversation_snooze``: who snoozed a conversation and when (``conversation.snoozed_until``
  holds until when); a message received after ``snoozed_at`` wakes it early.
* ``saved_reply``: a workspace's reply templates, optionally for one department.
* ``pending_reply``: a contributor's reply (or direct message) held for an editor's approval
  while the workspace setting ``reply_approval`` is on; ``status`` is ``pending``, then
  ``sending`` (approved, on its way), then ``sent`` or ``rejected``; a network refusal puts it
  back to ``pending`` with ``error`` saying why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base, _created, _id
from allsang.db.types import BigId, UTCDateTime

PENDING_STATUSES = ("pending", "sending", "sent", "rejected")
REPLY_MODES = ("reply", "direct")


class ConversationSnooze(Base):
    __tablename__ = "conversation_snooze"

    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    snoozed_at: Mapped[datetime] = _created()


class SavedReply(Base):
    __tablename__ = "saved_reply"
    __table_args__ = (Index("ix_saved_reply_workspace", "workspace_id", "name"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()


class PendingReply(Base):
    __tablename__ = "pending_reply"
    __table_args__ = (
        Index("ix_pending_reply_workspace_status", "workspace_id", "status", "created_at"),
        Index("ix_pending_reply_conversation", "conversation_id", "status"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    author_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL")
    )
    mode: Mapped[str] = mapped_column(String(10), default="reply")
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
