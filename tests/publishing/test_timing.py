"""Local times across the Nordic daylight-saving changes of 2026 (spring: 29 March, autumn:
25 October). Stockholm, Oslo and Copenhagen change at 02:00 local (CET/CEST), Helsinki at
03:00 local (EET/EEST); all at 01:00 UTC."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from allsang.publishing.timing import (
    AmbiguousLocalTime,
    InvalidRecurrence,
    NonexistentLocalTime,
    UnknownTimeZone,
    occurrences,
    to_local,
    to_utc,
    weekly_slots,
)

# zone, the local hour that is skipped in spring / repeated in autumn, standard UTC offset
ZONES = [
    ("Europe/Stockholm", 2, 1),
    ("Europe/Oslo", 2, 1),
    ("Europe/Copenhagen", 2, 1),
    ("Europe/Helsinki", 3, 2),
]
SPRING = datetime(2026, 3, 29)
AUTUMN = datetime(2026, 10, 25)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "hour", "offset"), ZONES)
def test_a_time_in_the_spring_gap_is_refused_or_moved_forward_by_the_gap(
    zone: str, hour: int, offset: int
) -> None:
    local = SPRING.replace(hour=hour, minute=30)
    with pytest.raises(NonexistentLocalTime):
        to_utc(local, zone)
    moved = to_utc(local, zone, on_gap="later")
    assert moved == utc(2026, 3, 29, 1, 30)
    assert to_local(moved, zone) == local + timedelta(hours=1)


@pytest.mark.parametrize(("zone", "hour", "offset"), ZONES)
def test_a_time_in_the_autumn_fold_is_refused_or_resolved_as_asked(
    zone: str, hour: int, offset: int
) -> None:
    local = AUTUMN.replace(hour=hour, minute=30)
    with pytest.raises(AmbiguousLocalTime):
        to_utc(local, zone)
    earlier = to_utc(local, zone, on_fold="earlier")
    later = to_utc(local, zone, on_fold="later")
    assert earlier == utc(2026, 10, 25, 0, 30)  # still summer time
    assert later - earlier == timedelta(hours=1)
    assert to_local(earlier, zone) == to_local(later, zone) == local


@pytest.mark.parametrize(("zone", "hour", "offset"), ZONES)
def test_ordinary_times_either_side_of_the_changes_use_the_right_offset(
    zone: str, hour: int, offset: int
) -> None:
    assert to_utc(SPRING.replace(hour=12), zone) == utc(2026, 3, 29, 12 - offset - 1)
    assert to_utc(SPRING - timedelta(days=1, hours=-12), zone) == utc(2026, 3, 28, 12 - offset)
    assert to_utc(AUTUMN.replace(hour=12), zone) == utc(2026, 10, 25, 12 - offset)
    assert to_utc(AUTUMN - timedelta(days=1, hours=-12), zone) == utc(2026, 10, 24, 12 - offset - 1)


@pytest.mark.parametrize(("zone", "hour", "offset"), ZONES)
def test_a_weekly_recurrence_stays_at_nine_local_across_both_changes(
    zone: str, hour: int, offset: int
) -> None:
    found = occurrences(
        "RRULE:FREQ=WEEKLY;BYDAY=SA,SU",
        datetime(2026, 3, 21, 9, 0),
        zone,
        after=utc(2026, 3, 20),
        until=utc(2026, 11, 1, 12),
    )
    assert all(to_local(i, zone).hour == 9 and to_local(i, zone).minute == 0 for i in found)
    by_day = {to_local(i, zone).date(): i for i in found}
    assert by_day[datetime(2026, 3, 28).date()] == utc(2026, 3, 28, 9 - offset)
    assert by_day[datetime(2026, 3, 29).date()] == utc(2026, 3, 29, 9 - offset - 1)
    assert by_day[datetime(2026, 10, 24).date()] == utc(2026, 10, 24, 9 - offset - 1)
    assert by_day[datetime(2026, 10, 25).date()] == utc(2026, 10, 25, 9 - offset)
    assert len(found) == len(by_day)  # no day twice


@pytest.mark.parametrize(("zone", "hour", "offset"), ZONES)
def test_a_daily_recurrence_inside_the_changing_hour_is_neither_lost_nor_doubled(
    zone: str, hour: int, offset: int
) -> None:
    spring = occurrences(
        "FREQ=DAILY;COUNT=3",
        SPRING.replace(day=28, hour=hour, minute=30),
        zone,
        after=utc(2026, 3, 1),
        until=utc(2026, 4, 1),
    )
    assert [to_local(i, zone) for i in spring] == [
        SPRING.replace(day=28, hour=hour, minute=30),
        SPRING.replace(hour=hour + 1, minute=30),  # the gap: moved forward, not dropped
        SPRING.replace(day=30, hour=hour, minute=30),
    ]
    autumn = occurrences(
        "FREQ=DAILY;COUNT=3",
        AUTUMN.replace(day=24, hour=hour, minute=30),
        zone,
        after=utc(2026, 10, 1),
        until=utc(2026, 11, 1),
    )
    assert len(autumn) == 3  # the repeated hour happens once
    assert autumn[1] == utc(2026, 10, 25, 0, 30)
    assert [b - a for a, b in itertools.pairwise(autumn)] == [
        timedelta(hours=24),
        timedelta(hours=25),
    ]


@pytest.mark.parametrize(("zone", "hour", "offset"), ZONES)
def test_weekly_queue_slots_keep_their_local_time_across_the_spring_change(
    zone: str, hour: int, offset: int
) -> None:
    sunday, monday = 6, 0
    slots = [(sunday, 9 * 60, zone), (monday, 8 * 60 + 15, zone)]
    found = list(weekly_slots(slots, after=utc(2026, 3, 27), days=9))
    assert found == [
        utc(2026, 3, 29, 9 - offset - 1),
        utc(2026, 3, 30, 8 - offset - 1, 15),
        utc(2026, 4, 5, 9 - offset - 1),
    ]


def test_an_unknown_zone_and_a_broken_rule_raise_typed_errors() -> None:
    with pytest.raises(UnknownTimeZone):
        to_utc(datetime(2026, 1, 1, 9), "Europe/Atlantis")
    with pytest.raises(InvalidRecurrence):
        occurrences(
            "FREQ=SOMETIMES",
            datetime(2026, 1, 1),
            "UTC",
            after=utc(2026, 1, 1),
            until=utc(2026, 2, 1),
        )
