"""Analytics: incremental aggregates (see docs/metrics.md for what each figure means).

Dimension columns (``channel_id``, ``department_id``, ``person_id``, ``contact_id``,
``query_id``) are plain integers with ``0`` for "none", not foreign keys: a bucket must be
unique on all its dimensions on both engines (NULLs are never equal in a unique constraint),
and a deleted channel's history stays countable until the next rebuild.

* ``analytics_day`` — messages per block × channel × department × person (the author of
  our own messages; ``0`` for the audience's). ``span`` is the block's length in days: 1 (a
  local day), 7, 28 or 112 (see :mod:`allsang.analytics.blocks`); ``day`` is its first day.
* ``analytics_channel_day`` — the same per local day without the person, for the per-day
  charts of long periods.
* ``analytics_response`` — per block × channel × department × person: conversation counts
  and histograms of first-response and resolution times, from which a period's rates and
  percentiles are read.
* ``analytics_lang_day``, ``analytics_voice_day``, ``analytics_query_day`` — languages, the
  audience's authors (per day, and the most active per week) and listening-query matches.
* ``analytics_conversation`` — one row of facts per conversation (first response, turns,
  resolution, SLA), from which ``analytics_response`` is counted.
* ``analytics_state`` — how far the incremental refresh has read (per workspace).
* ``analytics_report`` — scheduled e-mail reports per department.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base, _created, _id
from allsang.db.types import BigId, UTCDateTime


class AnalyticsDay(Base):
    __tablename__ = "analytics_day"
    __table_args__ = (
        UniqueConstraint("workspace_id", "span", "day", "channel_id", "department_id", "person_id"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    span: Mapped[int] = mapped_column(Integer, default=1)
    day: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[int] = mapped_column(BigId, default=0)
    department_id: Mapped[int] = mapped_column(BigId, default=0)
    person_id: Mapped[int] = mapped_column(BigId, default=0)
    inbound: Mapped[int] = mapped_column(Integer, default=0)
    outbound: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    broadcasts: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    score_sum: Mapped[float] = mapped_column(Float, default=0.0)
    scored: Mapped[int] = mapped_column(Integer, default=0)


class AnalyticsChannelDay(Base):
    __tablename__ = "analytics_channel_day"
    __table_args__ = (UniqueConstraint("workspace_id", "day", "channel_id", "department_id"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[int] = mapped_column(BigId, default=0)
    department_id: Mapped[int] = mapped_column(BigId, default=0)
    inbound: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    broadcasts: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    score_sum: Mapped[float] = mapped_column(Float, default=0.0)
    scored: Mapped[int] = mapped_column(Integer, default=0)


class AnalyticsLangDay(Base):
    __tablename__ = "analytics_lang_day"
    __table_args__ = (
        UniqueConstraint("workspace_id", "day", "channel_id", "department_id", "lang"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[int] = mapped_column(BigId, default=0)
    department_id: Mapped[int] = mapped_column(BigId, default=0)
    lang: Mapped[str] = mapped_column(String(8), default="")
    messages: Mapped[int] = mapped_column(Integer, default=0)


class AnalyticsVoiceDay(Base):
    """Inbound messages per contact: every contact per day (``span`` 1), and per week
    (``span`` 7) only the most active contacts of each channel and department."""

    __tablename__ = "analytics_voice_day"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "span", "day", "channel_id", "department_id", "contact_id"
        ),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    span: Mapped[int] = mapped_column(Integer, default=1)
    day: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[int] = mapped_column(BigId, default=0)
    department_id: Mapped[int] = mapped_column(BigId, default=0)
    contact_id: Mapped[int] = mapped_column(BigId, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)


class AnalyticsQueryDay(Base):
    __tablename__ = "analytics_query_day"
    __table_args__ = (UniqueConstraint("workspace_id", "day", "query_id"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    query_id: Mapped[int] = mapped_column(BigId, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    score_sum: Mapped[float] = mapped_column(Float, default=0.0)
    scored: Mapped[int] = mapped_column(Integer, default=0)


class AnalyticsConversation(Base):
    """Facts of one conversation; ``day`` is the local date of its first inbound message
    (or of its creation when the audience has not written)."""

    __tablename__ = "analytics_conversation"
    __table_args__ = (Index("ix_analytics_conversation_period", "workspace_id", "day"),)

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[int] = mapped_column(BigId, default=0)
    department_id: Mapped[int] = mapped_column(BigId, default=0)
    person_id: Mapped[int] = mapped_column(BigId, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expects_answer: Mapped[bool] = mapped_column(Boolean, default=False)
    intent: Mapped[str] = mapped_column(String(20), default="")
    inbound: Mapped[int] = mapped_column(Integer, default=0)
    outbound: Mapped[int] = mapped_column(Integer, default=0)
    turns: Mapped[int] = mapped_column(Integer, default=0)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_seconds: Mapped[float | None] = mapped_column(Float)
    business_seconds: Mapped[float | None] = mapped_column(Float)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_seconds: Mapped[float | None] = mapped_column(Float)
    sla_met: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = _created()


class AnalyticsResponse(Base):
    """Conversations of a block (by their ``day`` in ``analytics_conversation``) per channel ×
    department × person: the counts behind the rates, and histograms (packed bucket/count
    pairs, see :mod:`allsang.analytics.blocks`) of business first-response and resolution
    seconds."""

    __tablename__ = "analytics_response"
    __table_args__ = (
        UniqueConstraint("workspace_id", "span", "day", "channel_id", "department_id", "person_id"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    span: Mapped[int] = mapped_column(Integer, default=1)
    day: Mapped[date] = mapped_column(Date)
    channel_id: Mapped[int] = mapped_column(BigId, default=0)
    department_id: Mapped[int] = mapped_column(BigId, default=0)
    person_id: Mapped[int] = mapped_column(BigId, default=0)
    conversations: Mapped[int] = mapped_column(Integer, default=0)
    expecting: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)  # expecting and answered
    two_turns: Mapped[int] = mapped_column(Integer, default=0)
    unanswered: Mapped[int] = mapped_column(Integer, default=0)  # questions and complaints
    sla_met: Mapped[int] = mapped_column(Integer, default=0)
    sla_known: Mapped[int] = mapped_column(Integer, default=0)
    first_response: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    resolution: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


# An analytics_response row as its readers unpack it: the key, seven counts, two histograms.
RESPONSE_ROW = (
    AnalyticsResponse.channel_id,
    AnalyticsResponse.department_id,
    AnalyticsResponse.person_id,
    AnalyticsResponse.conversations,
    AnalyticsResponse.expecting,
    AnalyticsResponse.answered,
    AnalyticsResponse.two_turns,
    AnalyticsResponse.unanswered,
    AnalyticsResponse.sla_met,
    AnalyticsResponse.sla_known,
    AnalyticsResponse.first_response,
    AnalyticsResponse.resolution,
)


class AnalyticsState(Base):
    __tablename__ = "analytics_state"

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True
    )
    last_message_id: Mapped[int] = mapped_column(BigId, default=0)
    conversations_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rebuilt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = _created()


class AnalyticsReport(Base):
    """A report e-mailed on a schedule: ``frequency`` is ``weekly`` (Mondays, the past week)
    or ``monthly`` (the 1st, the past month); ``last_period`` is the period last sent."""

    __tablename__ = "analytics_report"

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE")
    )
    recipients: Mapped[str] = mapped_column(Text, default="")
    frequency: Mapped[str] = mapped_column(String(10), default="weekly")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    last_period: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = _created()
