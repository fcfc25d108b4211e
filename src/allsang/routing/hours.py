"""Business hours: when a department is open, and how much open time lies between two instants.

The weekly schedule is written in local wall-clock time of an IANA time zone. An instant is
*open* when its local date is not a closed date and its local time falls inside one of that
weekday's intervals (start inclusive, end exclusive; an end of ``00:00`` means midnight at the
end of the day). ``open_seconds_between`` is exactly the measure of that set of instants, so it
is DST-correct by construction: the hour skipped in spring is never counted, the hour repeated
in autumn is counted twice when both copies fall inside an interval.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

Interval = tuple[time, time]

MIDNIGHT = time(0, 0)
_DAY = timedelta(days=1)
# How far next_open looks ahead before it concludes the schedule never opens (a closed year
# plus a week covers any realistic run of holidays).
_LOOKAHEAD = timedelta(days=400)
# Offsets are probed this far apart when searching for DST transitions; every real zone keeps
# an offset for much longer than this between two changes.
_PROBE = timedelta(hours=6)


def _end_of(d: date, end: time) -> datetime:
    """The naive local end of an interval on ``d``; ``00:00`` is the following midnight."""
    if end == MIDNIGHT:
        return datetime.combine(d + _DAY, MIDNIGHT)
    return datetime.combine(d, end)


@dataclass(frozen=True)
class BusinessHours:
    """A weekly schedule in a time zone, with closed dates (holidays).

    ``weekly`` maps weekday (0 = Monday) to open intervals ``(start, end)`` in local time; a
    missing weekday is closed all day. Intervals are sorted on construction; overlapping or
    empty intervals are rejected (``ValueError``). All methods take and return aware datetimes.
    """

    timezone: str
    weekly: dict[int, list[tuple[time, time]]]
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises ZoneInfoNotFoundError for unknown names
        weekly: dict[int, list[Interval]] = {}
        for day, intervals in self.weekly.items():
            if day not in range(7):
                raise ValueError(f"weekday {day} is not in 0..6")
            ordered = sorted((start, end) for start, end in intervals)
            previous_end: datetime | None = None
            for start, end in ordered:
                begin, finish = datetime.combine(date.min, start), _end_of(date.min, end)
                if finish <= begin:
                    raise ValueError(f"interval {start}-{end} is empty")
                if previous_end is not None and begin < previous_end:
                    raise ValueError(f"intervals overlap on weekday {day}")
                previous_end = finish
            if ordered:
                weekly[day] = ordered
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def always_open(self) -> bool:
        full_day = [(MIDNIGHT, MIDNIGHT)]
        return not self.closed_dates and all(self.weekly.get(d) == full_day for d in range(7))

    def is_open(self, at: datetime) -> bool:
        _require_aware(at)
        local = at.astimezone(self.zone)
        if local.date() in self.closed_dates:
            return False
        now = local.replace(tzinfo=None)
        return any(
            datetime.combine(now.date(), start) <= now < _end_of(now.date(), end)
            for start, end in self.weekly.get(local.weekday(), ())
        )

    def open_seconds_between(self, start: datetime, end: datetime) -> float:
        """Open seconds in ``[start, end)``; 0 when ``end <= start``. Never exceeds wall time."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        # Summing timedeltas keeps microseconds exact; floats would drift over many pieces.
        total = sum((b - a for a, b in self.open_intervals(start, end)), timedelta())
        return total.total_seconds()

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself when open, else the first open instant after it (in UTC).

        Raises ``ValueError`` when the schedule does not open within about a year.
        """
        if self.is_open(at):
            return at
        at = _utc(at)
        window = timedelta(days=7)
        cursor = at
        while cursor - at < _LOOKAHEAD:
            for begin, _ in self.open_intervals(cursor, cursor + window):
                return begin
            cursor += window
        raise ValueError("these business hours never open")

    def add_open_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant at which ``seconds`` of open time have passed since ``start``.

        This is how a due time is computed from a target measured in business hours. With no
        open time left within about a year it raises ``ValueError``.
        """
        start = _utc(start)
        remaining = timedelta(seconds=seconds)
        if self.always_open:
            return start + remaining
        window = timedelta(days=7)
        cursor = start
        while cursor - start < _LOOKAHEAD + timedelta(seconds=seconds):
            for begin, finish in self.open_intervals(cursor, cursor + window):
                if finish - begin >= remaining:
                    return begin + remaining
                remaining -= finish - begin
            cursor += window
        raise ValueError("these business hours never open")

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open stretches within ``[start, end)`` as ascending UTC intervals.

        Within a stretch of constant UTC offset, local time is UTC shifted by that offset, so
        each local interval maps to one UTC interval there; clipping it to the stretch handles
        skipped and repeated hours.
        """
        for seg_start, seg_end, offset in _offset_segments(self.timezone, start, end):
            local_start, local_end = seg_start + offset, seg_end + offset
            day = local_start.date()
            while day <= local_end.date():
                if day not in self.closed_dates:
                    for open_at, close_at in self.weekly.get(day.weekday(), ()):
                        begin = max(local_start, datetime.combine(day, open_at))
                        finish = min(local_end, _end_of(day, close_at))
                        if begin < finish:
                            yield (
                                (begin - offset).replace(tzinfo=UTC),
                                (finish - offset).replace(tzinfo=UTC),
                            )
                day += _DAY


ALWAYS_OPEN = BusinessHours(timezone="UTC", weekly={d: [(MIDNIGHT, MIDNIGHT)] for d in range(7)})


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("business hours need aware datetimes")


def _utc(at: datetime) -> datetime:
    """In UTC, because arithmetic on two datetimes of one zone ignores their offsets."""
    _require_aware(at)
    return at.astimezone(UTC)


def _offset_segments(
    timezone: str, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime, timedelta]]:
    """Split ``[start, end)`` at the zone's offset changes: naive-UTC (from, to, offset) runs."""
    zone = ZoneInfo(timezone)
    begin = start.astimezone(UTC).replace(tzinfo=None)
    finish = end.astimezone(UTC).replace(tzinfo=None)
    cuts = [
        t
        for year in range(begin.year, finish.year + 1)
        for t in _transitions(timezone, year)
        if begin < t < finish
    ]
    for seg_start, seg_end in zip([begin, *cuts], [*cuts, finish], strict=True):
        yield seg_start, seg_end, _offset(zone, seg_start)


def _offset(zone: ZoneInfo, naive_utc: datetime) -> timedelta:
    offset = naive_utc.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    assert offset is not None
    return offset


@lru_cache(maxsize=512)
def _transitions(timezone: str, year: int) -> tuple[datetime, ...]:
    """Naive-UTC instants in ``year`` at which the zone's UTC offset changes (to the second)."""
    zone = ZoneInfo(timezone)
    found: list[datetime] = []
    probe = datetime(year, 1, 1)
    stop = datetime(year + 1, 1, 1)
    current = _offset(zone, probe)
    while probe < stop:
        following = min(probe + _PROBE, stop)
        offset = _offset(zone, following)
        if offset != current:
            low, high = probe, following  # offset(low) == current, offset(high) != current
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if _offset(zone, middle) == current:
                    low = middle
                else:
                    high = middle
            if high.year == year:
                found.append(high)
            current = offset
        probe = following
    return tuple(found)


# -- storage ----------------------------------------------------------------------------------


def hours_from_config(
    timezone: str, weekly: dict[str, list[list[str]]], closed: list[str]
) -> BusinessHours:
    """Build from the stored JSON shape: ``{"0": [["08:00", "17:00"]]}`` and ISO dates."""
    return BusinessHours(
        timezone=timezone,
        weekly={
            int(day): [(time.fromisoformat(a), time.fromisoformat(b)) for a, b in intervals]
            for day, intervals in weekly.items()
        },
        closed_dates=frozenset(date.fromisoformat(d) for d in closed),
    )


def hours_to_config(hours: BusinessHours) -> tuple[dict[str, list[list[str]]], list[str]]:
    """The inverse of :func:`hours_from_config` (without the time zone)."""
    weekly = {
        str(day): [[a.strftime("%H:%M"), b.strftime("%H:%M")] for a, b in intervals]
        for day, intervals in sorted(hours.weekly.items())
    }
    return weekly, sorted(d.isoformat() for d in hours.closed_dates)


async def hours_for_department(session: AsyncSession, department_id: int | None) -> BusinessHours:
    """The department's business hours; ``ALWAYS_OPEN`` when it has none (or no department)."""
    from allsang.db.models.routing import DepartmentHours

    if department_id is None:
        return ALWAYS_OPEN
    row = await session.scalar(
        select(DepartmentHours).where(DepartmentHours.department_id == department_id)
    )
    if row is None:
        return ALWAYS_OPEN
    return hours_from_config(row.timezone, row.weekly, row.closed_dates)
