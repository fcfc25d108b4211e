"""Business hours across the Nordic DST changes (last Sunday of March and of October)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allsang.routing.hours import (
    ALWAYS_OPEN,
    BusinessHours,
    hours_from_config,
    hours_to_config,
)

NORDIC = ["Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen", "Europe/Helsinki"]
OFFICE = {d: [(time(8), time(17))] for d in range(5)}
ALL_DAY = {d: [(time(0), time(0))] for d in range(7)}
NIGHT_SHIFT = {d: [(time(1, 30), time(3, 30)), (time(22), time(0))] for d in range(7)}
HOUR = 3600.0


def local(zone: str, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone), fold=fold)  # type: ignore[misc]


def test_it_is_open_inside_office_hours_and_closed_outside() -> None:
    hours = BusinessHours("Europe/Stockholm", OFFICE)
    assert hours.is_open(local("Europe/Stockholm", 2026, 12, 7, 8, 0))
    assert hours.is_open(local("Europe/Stockholm", 2026, 12, 7, 16, 59))
    assert not hours.is_open(local("Europe/Stockholm", 2026, 12, 7, 17, 0))
    assert not hours.is_open(local("Europe/Stockholm", 2026, 12, 6, 12, 0))  # Sunday


def test_it_reads_the_local_time_of_its_own_zone_whatever_zone_it_is_asked_in() -> None:
    hours = BusinessHours("Europe/Helsinki", OFFICE)
    # 07:30 in Stockholm is 08:30 in Helsinki.
    assert hours.is_open(local("Europe/Stockholm", 2026, 12, 7, 7, 30))
    assert not BusinessHours("Europe/Stockholm", OFFICE).is_open(
        local("Europe/Stockholm", 2026, 12, 7, 7, 30)
    )


def test_closed_dates_are_closed_all_day() -> None:
    hours = BusinessHours("Europe/Oslo", OFFICE, frozenset({date(2026, 12, 24)}))
    assert not hours.is_open(local("Europe/Oslo", 2026, 12, 24, 10))
    start = local("Europe/Oslo", 2026, 12, 23, 0)
    assert hours.open_seconds_between(start, start + timedelta(days=2)) == 9 * HOUR


@pytest.mark.parametrize("zone", NORDIC)
def test_a_full_day_is_23_hours_in_spring_and_25_in_autumn(zone: str) -> None:
    hours = BusinessHours(zone, ALL_DAY)
    spring = local(zone, 2026, 3, 29)
    autumn = local(zone, 2026, 10, 25)
    assert hours.open_seconds_between(spring, local(zone, 2026, 3, 30)) == 23 * HOUR
    assert hours.open_seconds_between(autumn, local(zone, 2026, 10, 26)) == 25 * HOUR


@pytest.mark.parametrize("zone", NORDIC)
def test_the_skipped_hour_is_never_counted_and_the_repeated_hour_counts_twice(zone: str) -> None:
    # Helsinki changes at 03:00/04:00 local, the others at 02:00/03:00 (all at 01:00 UTC).
    skipped = 3 if zone == "Europe/Helsinki" else 2
    window = {6: [(time(skipped), time(skipped + 1))]}  # Sundays only
    hours = BusinessHours(zone, window)
    assert hours.open_seconds_between(local(zone, 2026, 3, 29), local(zone, 2026, 3, 30)) == 0
    assert hours.open_seconds_between(local(zone, 2026, 10, 25), local(zone, 2026, 10, 26)) == (
        2 * HOUR
    )
    # Both copies of the repeated hour are open; the wall clock reads the same in both.
    first = local(zone, 2026, 10, 25, skipped, 30, fold=0)
    second = local(zone, 2026, 10, 25, skipped, 30, fold=1)
    assert (second.astimezone(UTC) - first.astimezone(UTC)) == timedelta(hours=1)
    assert hours.is_open(first) and hours.is_open(second)


@pytest.mark.parametrize("zone", NORDIC)
def test_office_hours_across_a_dst_weekend_count_only_weekdays(zone: str) -> None:
    hours = BusinessHours(zone, OFFICE)
    # Friday 12:00 before the spring change to Monday 12:00 after it: 5 h + 4 h.
    assert (
        hours.open_seconds_between(local(zone, 2026, 3, 27, 12), local(zone, 2026, 3, 30, 12))
        == 9 * HOUR
    )
    assert (
        hours.open_seconds_between(local(zone, 2026, 10, 23, 12), local(zone, 2026, 10, 26, 12))
        == 9 * HOUR
    )


@pytest.mark.parametrize("zone", NORDIC)
def test_next_open_skips_the_weekend_and_lands_on_local_opening_time(zone: str) -> None:
    hours = BusinessHours(zone, OFFICE)
    opened = hours.next_open(local(zone, 2026, 3, 27, 18))  # Friday evening before DST
    assert opened.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime(2026, 3, 30, 8)
    assert opened.astimezone(ZoneInfo(zone)).utcoffset() != local(zone, 2026, 3, 27).utcoffset()
    at = local(zone, 2026, 3, 30, 9)
    assert hours.next_open(at) == at


def test_next_open_starts_at_the_jump_when_opening_time_falls_in_the_skipped_hour() -> None:
    hours = BusinessHours("Europe/Stockholm", {6: [(time(2, 30), time(4))]})
    opened = hours.next_open(local("Europe/Stockholm", 2026, 3, 29, 0))
    assert opened == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, the first instant
    assert hours.open_seconds_between(opened, opened + timedelta(hours=3)) == HOUR


def test_add_open_seconds_carries_over_to_the_next_open_day() -> None:
    hours = BusinessHours("Europe/Copenhagen", OFFICE)
    due = hours.add_open_seconds(local("Europe/Copenhagen", 2026, 10, 23, 16), 2 * HOUR)
    assert due == local("Europe/Copenhagen", 2026, 10, 26, 9)
    assert hours.add_open_seconds(local("Europe/Copenhagen", 2026, 10, 24, 10), 0) == local(
        "Europe/Copenhagen", 2026, 10, 26, 8
    )


def test_always_open_counts_wall_time() -> None:
    start = datetime(2026, 3, 29, tzinfo=UTC)
    assert ALWAYS_OPEN.open_seconds_between(start, start + timedelta(days=3)) == 3 * 24 * HOUR
    assert ALWAYS_OPEN.next_open(start) == start
    assert ALWAYS_OPEN.is_open(start)


def test_it_never_opens_without_intervals() -> None:
    with pytest.raises(ValueError, match="never open"):
        BusinessHours("Europe/Stockholm", {}).next_open(datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "weekly",
    [
        {0: [(time(9), time(8))]},
        {0: [(time(8), time(12)), (time(11), time(13))]},
        {7: [(time(8), time(9))]},
    ],
)
def test_it_rejects_empty_overlapping_or_misnumbered_intervals(weekly: dict) -> None:
    with pytest.raises(ValueError):
        BusinessHours("Europe/Stockholm", weekly)


def test_it_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        BusinessHours("Europe/Stockholm", OFFICE).is_open(datetime(2026, 1, 1, 9))


def test_the_stored_shape_round_trips() -> None:
    hours = BusinessHours("Europe/Oslo", NIGHT_SHIFT, frozenset({date(2026, 5, 17)}))
    weekly, closed = hours_to_config(hours)
    assert hours_from_config("Europe/Oslo", weekly, closed) == hours


# -- properties over random instants around the DST changes of 2025–2027 ---------------------

SCHEDULES = st.sampled_from([OFFICE, ALL_DAY, NIGHT_SHIFT, {6: [(time(2), time(3, 30))]}])
INSTANTS = st.datetimes(
    min_value=datetime(2025, 3, 1), max_value=datetime(2027, 11, 30), timezones=st.just(UTC)
)
SPANS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(NORDIC), SCHEDULES, INSTANTS, SPANS, SPANS)
def test_open_seconds_are_additive_over_a_split_and_never_exceed_wall_time(
    zone: str, weekly: dict, start: datetime, first: timedelta, second: timedelta
) -> None:
    hours = BusinessHours(zone, weekly, frozenset({date(2026, 3, 30), date(2025, 10, 27)}))
    split, end = start + first, start + first + second
    whole = hours.open_seconds_between(start, end)
    assert whole == pytest.approx(
        hours.open_seconds_between(start, split) + hours.open_seconds_between(split, end)
    )
    assert 0 <= whole <= (end - start).total_seconds()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(NORDIC), SCHEDULES, INSTANTS)
def test_open_intervals_agree_with_is_open_and_next_open(
    zone: str, weekly: dict, at: datetime
) -> None:
    hours = BusinessHours(zone, weekly)
    opened = hours.next_open(at)
    assert hours.is_open(opened)
    assert opened >= at
    if opened > at:
        assert not hours.is_open(at)
        assert hours.open_seconds_between(at, opened) == 0
    for begin, finish in hours.open_intervals(at, at + timedelta(days=2)):
        assert hours.is_open(begin)
        assert hours.is_open(finish - timedelta(microseconds=1))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(NORDIC), SCHEDULES, INSTANTS, st.integers(min_value=0, max_value=50 * 3600))
def test_add_open_seconds_is_the_inverse_of_open_seconds_between(
    zone: str, weekly: dict, start: datetime, seconds: int
) -> None:
    hours = BusinessHours(zone, weekly)
    due = hours.add_open_seconds(start, seconds)
    assert hours.open_seconds_between(start, due) == pytest.approx(seconds)
