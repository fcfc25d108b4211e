"""Routing: rules, business hours, SLA targets, round-robin turns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base, _created, _id
from allsang.db.types import BigId, JSONType, UTCDateTime, utcnow


class RoutingRule(Base):
    """One ordered rule of a workspace: conditions (all must hold) and the actions they trigger.

    ``conditions`` keys: ``query`` (Allsang query language), ``languages``, ``intents``,
    ``channel_ids``, ``sentiments``, ``handles`` (lists; empty = any) and ``contact``
    (``"any"``, ``"known"``, ``"new"``). ``stop`` ends evaluation after this rule matched.
    """

    __tablename__ = "routing_rule"
    __table_args__ = (Index("ix_routing_rule_workspace_position", "workspace_id", "position"),)

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="SET NULL")
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    round_robin: Mapped[bool] = mapped_column(Boolean, default=False)
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tag.id", ondelete="SET NULL"))
    priority: Mapped[str | None] = mapped_column(String(10))
    stop: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DepartmentHours(Base):
    """A department's business hours: ``weekly`` is ``{"0": [["08:00", "17:00"]], …}`` in
    local time of ``timezone`` (0 = Monday), ``closed_dates`` a list of ISO dates."""

    __tablename__ = "department_hours"

    id: Mapped[int] = _id()
    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), unique=True
    )
    timezone: Mapped[str] = mapped_column(String(64))
    weekly: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    closed_dates: Mapped[list[str]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SlaTarget(Base):
    """Response targets of a department, in business minutes. ``priority`` ``""`` is the
    department's default; a row for a specific priority overrides it."""

    __tablename__ = "sla_target"
    __table_args__ = (UniqueConstraint("department_id", "priority"),)

    id: Mapped[int] = _id()
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    priority: Mapped[str] = mapped_column(String(10), default="")
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    next_response_minutes: Mapped[int | None] = mapped_column(Integer)


class RoundRobinCounter(Base):
    """A department's round-robin turn counter.

    Assigning bumps this row first (an UPDATE: a row lock on PostgreSQL, the write lock on
    SQLite), which serialises concurrent assigners of the same department until commit.
    """

    __tablename__ = "round_robin_counter"

    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    turn: Mapped[int] = mapped_column(BigId, default=0)


class RoundRobinTurn(Base):
    """The counter value at which a person last got a conversation in a department."""

    __tablename__ = "round_robin_turn"

    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    turn: Mapped[int] = mapped_column(BigId, default=0)
