"""Who is on duty: weekly shifts in local time (across daylight saving time), overrides,
absences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from allsang.continuity import on_duty
from allsang.continuity.rota import Shift, format_clock, parse_clock
from allsang.db.models import Person
from allsang.db.models.continuity import Absence, DutyOverride, DutyRota, DutyShift
from allsang.runtime import Runtime
from tests.continuity.conftest import Team

MONDAY, SATURDAY = 0, 5


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def add_shift(
    runtime: Runtime, team: Team, name: str, day: int, start: str, end: str
) -> None:
    async with runtime.db.write() as session:
        session.add(
            DutyShift(
                workspace_id=team.workspace.id,
                department_id=team.department.id,
                person_id=team.id(name),
                weekday=day,
                start_minute=parse_clock(start),
                end_minute=parse_clock(end),
            )
        )


async def duty(runtime: Runtime, team: Team, at: datetime) -> list[int]:
    async with runtime.db.read() as session:
        return await on_duty(session, team.department.id, at)


async def test_a_day_shift_keeps_its_local_hours_across_daylight_saving_time(
    runtime: Runtime, team: Team
) -> None:
    await add_shift(runtime, team, "anna", MONDAY, "09:00", "17:00")
    anna = [team.id("anna")]
    # Stockholm is UTC+1 on Monday 23 March 2026 and UTC+2 from Sunday 29 March.
    assert await duty(runtime, team, utc(2026, 3, 23, 7, 59)) == []
    assert await duty(runtime, team, utc(2026, 3, 23, 8, 0)) == anna
    assert await duty(runtime, team, utc(2026, 3, 23, 15, 59)) == anna
    assert await duty(runtime, team, utc(2026, 3, 23, 16, 0)) == []
    assert await duty(runtime, team, utc(2026, 3, 30, 7, 0)) == anna
    assert await duty(runtime, team, utc(2026, 3, 30, 15, 0)) == []
    # And back on 25 October.
    assert await duty(runtime, team, utc(2026, 10, 19, 7, 30)) == anna
    assert await duty(runtime, team, utc(2026, 10, 26, 7, 30)) == []
    assert await duty(runtime, team, utc(2026, 10, 26, 8, 0)) == anna


async def test_a_night_shift_runs_into_the_next_morning_across_the_spring_gap(
    runtime: Runtime, team: Team
) -> None:
    await add_shift(runtime, team, "bo", SATURDAY, "22:00", "06:00")
    bo = [team.id("bo")]
    # Saturday 28 March 22:00 CET = 21:00 UTC; the night loses an hour at 02:00.
    assert await duty(runtime, team, utc(2026, 3, 28, 20, 59)) == []
    assert await duty(runtime, team, utc(2026, 3, 28, 21, 0)) == bo
    assert await duty(runtime, team, utc(2026, 3, 29, 1, 30)) == bo  # 03:30 CEST
    assert await duty(runtime, team, utc(2026, 3, 29, 3, 59)) == bo  # 05:59 CEST
    assert await duty(runtime, team, utc(2026, 3, 29, 4, 0)) == []  # 06:00 CEST
    # Sunday evening is not part of Saturday's shift.
    assert await duty(runtime, team, utc(2026, 3, 29, 21, 0)) == []


async def test_the_department_time_zone_wins_over_the_workspace_time_zone(
    runtime: Runtime, team: Team
) -> None:
    await add_shift(runtime, team, "anna", MONDAY, "09:00", "10:00")
    async with runtime.db.write() as session:
        session.add(
            DutyRota(
                department_id=team.department.id,
                workspace_id=team.workspace.id,
                timezone="Europe/London",
            )
        )
    assert await duty(runtime, team, utc(2026, 3, 23, 8, 30)) == []
    assert await duty(runtime, team, utc(2026, 3, 23, 9, 30)) == [team.id("anna")]


async def test_overrides_put_people_on_and_off_duty_for_a_while(
    runtime: Runtime, team: Team
) -> None:
    await add_shift(runtime, team, "anna", MONDAY, "09:00", "17:00")
    await add_shift(runtime, team, "bo", MONDAY, "09:00", "17:00")
    start = utc(2026, 3, 23, 10, 0)
    async with runtime.db.write() as session:
        for name, kind in (("bo", "off"), ("cia", "on")):
            session.add(
                DutyOverride(
                    workspace_id=team.workspace.id,
                    department_id=team.department.id,
                    person_id=team.id(name),
                    kind=kind,
                    starts_at=start,
                    ends_at=start + timedelta(hours=2),
                )
            )
    assert await duty(runtime, team, start - timedelta(minutes=1)) == [
        team.id("anna"),
        team.id("bo"),
    ]
    assert await duty(runtime, team, start) == sorted([team.id("anna"), team.id("cia")])
    assert await duty(runtime, team, start + timedelta(hours=2)) == [
        team.id("anna"),
        team.id("bo"),
    ]


async def test_people_out_of_office_or_deactivated_are_not_on_duty(
    runtime: Runtime, team: Team
) -> None:
    for name in ("anna", "bo", "cia"):
        await add_shift(runtime, team, name, MONDAY, "00:00", "24:00")
    at = utc(2026, 3, 23, 12, 0)
    async with runtime.db.write() as session:
        session.add(
            Absence(
                workspace_id=team.workspace.id,
                person_id=team.id("anna"),
                deputy_id=team.id("bo"),
                starts_at=at - timedelta(days=1),
                ends_at=at + timedelta(days=1),
            )
        )
        session.add(
            Absence(
                workspace_id=team.workspace.id,
                person_id=team.id("bo"),
                starts_at=at - timedelta(days=3),
                ends_at=at + timedelta(days=1),
                state="ended",
            )
        )
        cia = await session.get(Person, team.id("cia"))
        assert cia is not None
        cia.is_active = False
    assert await duty(runtime, team, at) == [team.id("bo")]


async def test_an_unknown_department_has_nobody_and_a_naive_time_is_refused(
    runtime: Runtime, team: Team
) -> None:
    async with runtime.db.read() as session:
        assert await on_duty(session, 999_999, utc(2026, 3, 23, 12, 0)) == []
        with pytest.raises(ValueError):
            await on_duty(session, team.department.id, datetime(2026, 3, 23, 12, 0))


def test_clock_times_parse_and_print_as_hours_and_minutes() -> None:
    assert parse_clock("09:30") == 570
    assert parse_clock("24:00") == 1440
    assert format_clock(570) == "09:30"
    for bad in ("9", "25:00", "10:60", "ab:cd", "10:5"):
        with pytest.raises(ValueError):
            parse_clock(bad)


def test_a_full_day_shift_written_start_equals_end_covers_the_whole_day() -> None:
    shift = Shift(MONDAY, 480, 480)
    assert shift.covers(MONDAY, 480)
    assert shift.covers(MONDAY + 1, 479)
    assert not shift.covers(MONDAY, 479)
