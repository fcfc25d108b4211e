"""Continuity: on-duty rota, out-of-office with deputies, bus factor (SPEC §2E).

See :mod:`allsang.continuity` and ``docs/continuity.md`` for how the tables are used.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base, _created, _id
from allsang.db.types import BigId, JSONType, UTCDateTime


class DutyRota(Base):
    """A department's rota settings: the time zone its shifts are written in (``None``: the
    workspace's)."""

    __tablename__ = "duty_rota"

    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    timezone: Mapped[str | None] = mapped_column(String(64))


class DutyShift(Base):
    """A weekly shift: ``person`` is on duty every ``weekday`` (0 = Monday) from ``start_minute``
    to ``end_minute`` (minutes after local midnight). An end at or before the start runs past
    midnight into the next day."""

    __tablename__ = "duty_shift"
    __table_args__ = (Index("ix_duty_shift_department", "department_id", "weekday"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)


class DutyOverride(Base):
    """A one-off change to the rota between two instants: ``on`` puts the person on duty,
    ``off`` takes them off whatever their shifts say."""

    __tablename__ = "duty_override"
    __table_args__ = (Index("ix_duty_override_department", "department_id", "ends_at"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(3))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(200), default="")


class Absence(Base):
    """Out of office from ``starts_at`` until ``ends_at``, with a deputy.

    ``state``: ``scheduled`` → ``active`` (work handed over) → ``ended`` (handed back), or
    ``cancelled`` before it started.
    """

    __tablename__ = "absence"
    __table_args__ = (Index("ix_absence_workspace_state", "workspace_id", "state"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default="scheduled")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Handover(Base):
    """One thing handed to a deputy during an absence, so the return can undo it.

    ``kind`` names the provider (``conversation``, ``approval``, ``post`` …) and ``object_id``
    the thing; ``outcome`` is ``None`` while handed over, then ``returned`` or ``kept`` (the
    deputy worked on it, or someone else changed it meanwhile).
    """

    __tablename__ = "handover"
    __table_args__ = (UniqueConstraint("absence_id", "kind", "object_id"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    absence_id: Mapped[int] = mapped_column(ForeignKey("absence.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column(BigId)
    from_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    to_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    handed_at: Mapped[datetime] = _created()
    outcome: Mapped[str | None] = mapped_column(String(10))
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChannelReconnector(Base):
    """A person named as able to reconnect a channel: they hold the network account's login
    (the app role alone is not enough to sign in to Mastodon or X again)."""

    __tablename__ = "channel_reconnector"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = _created()


class ContinuityCondition(Base):
    """A bus-factor condition currently true (``key`` such as ``channel:3:silent``): the alarm
    is raised when the row appears and not again until the condition clears and returns."""

    __tablename__ = "continuity_condition"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    since: Mapped[datetime] = _created()
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id", ondelete="SET NULL"))
