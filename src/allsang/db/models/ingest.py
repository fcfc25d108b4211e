"""Ingest: which process listens to which channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base
from allsang.db.types import UTCDateTime


class IngestLease(Base):
    """A channel's listen loop runs in the process that holds its unexpired lease."""

    __tablename__ = "ingest_lease"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class IngestMember(Base):
    """A live ingest process, renewed on each scan: the fair share counts even those that hold
    no channel yet."""

    __tablename__ = "ingest_member"

    holder: Mapped[str] = mapped_column(String(120), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
