"""The on-duty rota of a department: weekly shifts in local time plus one-off overrides.

Shifts are wall-clock times in the rota's time zone (the department's own, else the
workspace's), so a 09:00–17:00 shift stays 09:00–17:00 across daylight saving time. A shift
whose end is at or before its start runs past midnight into the next day.

:func:`on_duty` is a public contract: inbox routing calls it for round-robin assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Department, Membership, Person, Workspace
from allsang.db.models.continuity import Absence, DutyOverride, DutyRota, DutyShift

MINUTES_PER_DAY = 24 * 60
ABSENT_STATES = ("scheduled", "active")


@dataclass(frozen=True, slots=True)
class Shift:
    weekday: int  # 0 = Monday
    start_minute: int
    end_minute: int

    def covers(self, weekday: int, minute: int) -> bool:
        """True when local ``weekday`` at ``minute`` after midnight falls inside the shift."""
        if self.end_minute > self.start_minute:
            return weekday == self.weekday and self.start_minute <= minute < self.end_minute
        # Overnight (or a full day when start == end): the rest of its own day, then the
        # next morning until the end.
        if weekday == self.weekday and minute >= self.start_minute:
            return True
        return weekday == (self.weekday + 1) % 7 and minute < self.end_minute


def parse_clock(value: str) -> int:
    """``"HH:MM"`` → minutes after midnight (``"24:00"`` is the end of the day).

    Raises ``ValueError`` for anything else.
    """
    hours, sep, minutes = value.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(value)
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or total > MINUTES_PER_DAY:
        raise ValueError(value)
    return total


def format_clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


async def rota_timezone(session: AsyncSession, department: Department) -> str:
    """The time zone the department's shifts are written in."""
    own = await session.scalar(
        select(DutyRota.timezone).where(DutyRota.department_id == department.id)
    )
    if own:
        return own
    workspace = await session.get(Workspace, department.workspace_id)
    assert workspace is not None
    return workspace.timezone


async def absent_people(session: AsyncSession, workspace_id: int, at: datetime) -> set[int]:
    """People of the workspace who are out of office at ``at``."""
    return set(
        await session.scalars(
            select(Absence.person_id).where(
                Absence.workspace_id == workspace_id,
                Absence.state.in_(ABSENT_STATES),
                Absence.starts_at <= at,
                Absence.ends_at > at,
            )
        )
    )


async def on_duty(session: AsyncSession, department_id: int, at: datetime) -> list[int]:
    """The ids of the people on duty in the department at instant ``at`` (timezone-aware),
    in ascending order.

    On duty means: a weekly shift covers the local time (or an ``on`` override covers ``at``),
    no ``off`` override covers ``at``, the person is not out of office, is active and is
    still a member of the workspace. An unknown department has nobody on duty.
    """
    if at.tzinfo is None:
        raise ValueError("on_duty needs a timezone-aware instant")
    # One round trip each for: the zone, the shifts, the overrides, who of them is present.
    found = (
        await session.execute(
            select(Department.workspace_id, DutyRota.timezone, Workspace.timezone)
            .join(Workspace, Workspace.id == Department.workspace_id)
            .outerjoin(DutyRota, DutyRota.department_id == Department.id)
            .where(Department.id == department_id)
        )
    ).first()
    if found is None:
        return []
    workspace_id, own_zone, workspace_zone = found
    local = at.astimezone(ZoneInfo(own_zone or workspace_zone))
    weekday, minute = local.weekday(), local.hour * 60 + local.minute
    people: set[int] = set()
    shifts = await session.execute(
        select(
            DutyShift.person_id, DutyShift.weekday, DutyShift.start_minute, DutyShift.end_minute
        ).where(
            DutyShift.department_id == department_id,
            DutyShift.weekday.in_((weekday, (weekday - 1) % 7)),
        )
    )
    for person_id, day, start, end in shifts:
        if Shift(day, start, end).covers(weekday, minute):
            people.add(person_id)
    overrides = await session.execute(
        select(DutyOverride.person_id, DutyOverride.kind).where(
            DutyOverride.department_id == department_id,
            DutyOverride.starts_at <= at,
            DutyOverride.ends_at > at,
        )
    )
    off: set[int] = set()
    for person_id, kind in overrides:
        (people if kind == "on" else off).add(person_id)
    people -= off
    if not people:
        return []
    away = (
        select(Absence.id)
        .where(
            Absence.person_id == Person.id,
            Absence.workspace_id == workspace_id,
            Absence.state.in_(ABSENT_STATES),
            Absence.starts_at <= at,
            Absence.ends_at > at,
        )
        .exists()
    )
    present = await session.scalars(
        select(Person.id)
        .join(Membership, Membership.person_id == Person.id)
        .where(
            Person.id.in_(people),
            Person.is_active.is_(True),
            Membership.workspace_id == workspace_id,
            Membership.role != "display",
            ~away,
        )
    )
    return sorted(present)
